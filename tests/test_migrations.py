"""Migrations: frozen literal DDL that builds exactly the declared schema, and an upgrade
from the previous head that keeps a log verifiable and its projections replayable.

Every test runs on SQLite and, when CREDTRACE_TEST_DATABASE_URL is set, on PostgreSQL.
The upgrade test finds the previous head in the script directories, so it follows new
revisions without being edited.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Index, Integer, MetaData, Text, event

from credit.catalogue import violation_item_check
from ledger.records.entry import record_entry
from ledger.records.projector import Projector, replay
from ledger.records.tables import LIVE, Tables
from ledger.store.dbverify import verify_database
from ledger.store.engine import (
    LEDGER_MIGRATIONS,
    MigrationChain,
    alembic_config,
    create_db_engine,
    current_revision,
    run_migrations,
)
from ledger.store.log import Ledger
from ledger.store.schema import differences
from ledger.tlog.note import Signer
from lookup_api.auth import APP_MIGRATIONS
from lookup_api.bulk.seed import seed_ledger
from lookup_api.schema import SCHEMA, schema_differences, version_tables
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, redaction, uscc

ROOT = Path(__file__).resolve().parents[1]
CHAINS = {chain.name: chain for chain in (LEDGER_MIGRATIONS, APP_MIGRATIONS)}
REVISION_FOLDERS = [
    ROOT / "ledger/store/migrations/versions",
    ROOT / "lookup_api/migrations/versions",
]
# What a frozen revision may import: Alembic and SQLAlchemy, never the project's code.
REVISION_IMPORTS = {"__future__", "alembic", "sqlalchemy"}
SEED_ENTERPRISES = 10


def _script(chain: MigrationChain) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(chain))


def previous_head(chain: MigrationChain) -> str | None:
    """The revision before the head of one chain (None when the head is the first)."""
    script = _script(chain)
    head_id = script.get_current_head()
    assert head_id is not None, f"{chain.name} has no revisions"
    head = script.get_revision(head_id)
    assert head is not None
    down = head.down_revision
    assert down is None or isinstance(down, str), f"{chain.name}: the head merges {down}"
    return down


def _migrate_all(engine: Engine, revisions: dict[str, str | None] | None = None) -> None:
    for name, chain in CHAINS.items():
        revision = "head" if revisions is None else revisions[name]
        if revision is not None:
            run_migrations(engine, chain, revision)


@pytest.fixture
def blank(blank_db_url: str) -> Iterator[Engine]:
    """An empty database, not migrated."""
    engine = create_db_engine(blank_db_url)
    yield engine
    engine.dispose()


def _ops(diffs: list[Any]) -> set[tuple[str, str]]:
    """Autogenerate's operations as (operation, table); modify_* come wrapped in a list."""
    flat = [d for item in diffs for d in (item if isinstance(item, list) else [item])]
    found = set()
    for op in flat:
        name = op[0]
        if name.endswith("_table"):
            table = op[1].name
        elif name.endswith("_index"):
            table = op[1].table.name
        else:  # ("add_column", schema, table, column), ("modify_type", schema, table, ...)
            table = op[2]
        found.add((name, str(table)))
    return found


def _copy(schema: tuple[MetaData, ...]) -> MetaData:
    """All declared tables in one new MetaData, free to change without touching the real one."""
    copied = MetaData()
    for meta in schema:
        for table in meta.tables.values():
            table.to_metadata(copied)
    return copied


@pytest.mark.parametrize("folder", REVISION_FOLDERS, ids=lambda p: p.parent.parent.name)
def test_revisions_are_frozen_literal_ddl(folder: Path) -> None:
    revisions = sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")
    assert revisions, folder
    for path in revisions:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert imported <= REVISION_IMPORTS, f"{path.name} imports {imported - REVISION_IMPORTS}"
        called = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not called & {"create_all", "drop_all"}, f"{path.name} builds from a MetaData"


def test_a_freshly_migrated_database_is_the_declared_schema(blank: Engine) -> None:
    _migrate_all(blank)
    assert schema_differences(blank) == []
    _migrate_all(blank)  # idempotent
    assert schema_differences(blank) == []


@pytest.mark.parametrize("change", ["column", "index", "type", "nullable", "table", "missing"])
def test_the_check_catches_a_change_that_was_not_migrated(blank: Engine, change: str) -> None:
    _migrate_all(blank)
    declared = _copy(SCHEMA)
    assert differences(blank, declared, version_tables()) == []
    enterprises = declared.tables["proj_enterprises"]
    expected: set[tuple[str, str]]
    if change == "column":
        enterprises.append_column(Column("website", Text))
        expected = {("add_column", "proj_enterprises")}
    elif change == "index":
        Index("ix_proj_enterprises_name", enterprises.c.name)
        expected = {("add_index", "proj_enterprises")}
    elif change == "type":
        enterprises.c.score.type = Text()
        expected = {("modify_type", "proj_enterprises")}
    elif change == "nullable":
        enterprises.c.name.nullable = False
        expected = {("modify_nullable", "proj_enterprises")}
    elif change == "table":
        from sqlalchemy import Table

        Table("proj_new", declared, Column("id", Integer, primary_key=True))
        expected = {("add_table", "proj_new")}
    else:
        declared.remove(declared.tables["ledger_lock"])
        expected = {("remove_table", "ledger_lock")}
    assert _ops(differences(blank, declared, version_tables())) == expected


def test_every_chain_has_one_head_and_a_previous_revision_to_upgrade_from() -> None:
    for chain in CHAINS.values():
        assert len(_script(chain).get_heads()) == 1, chain.name
    assert previous_head(LEDGER_MIGRATIONS) is not None


@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_the_head_written_beside_a_chain_is_its_newest_revision(chain: MigrationChain) -> None:
    """Start-up skips Alembic when the database is at ``chain.head``: it must be the head."""
    assert chain.head == _script(chain).get_current_head()


def test_an_up_to_date_database_is_only_read(blank: Engine) -> None:
    """No write lock, no DDL: a command that answers a question never waits for an import."""
    _migrate_all(blank)
    assert [current_revision(blank, chain) for chain in CHAINS.values()] == [
        chain.head for chain in CHAINS.values()
    ]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.strip().upper())

    event.listen(blank, "before_cursor_execute", record)
    try:
        _migrate_all(blank)
    finally:
        event.remove(blank, "before_cursor_execute", record)
    assert statements, "the revision was not read"
    writes = [s for s in statements if not s.startswith(("SELECT", "PRAGMA", "BEGIN", "WITH"))]
    assert writes == []
    assert not [s for s in statements if "IMMEDIATE" in s or "ADVISORY_LOCK" in s]


def test_a_log_written_at_the_previous_head_upgrades_and_still_verifies(
    blank: Engine, signer: Signer
) -> None:
    """Built at head's down revision, filled with a seeded log, upgraded to head.

    The projections are written into the tables as they stand at the previous head
    (reflected from the database): columns added since are left for the upgrade to fill.
    """
    _migrate_all(blank, {name: previous_head(chain) for name, chain in CHAINS.items()})
    reflected = MetaData()
    reflected.reflect(blank, only=LIVE.names())
    then = Tables({name: reflected.tables[name] for name in LIVE.names()})
    ledger = Ledger(blank, signer, ORIGIN, hooks=[Projector(violation_item_check(), then)])
    seed_ledger(ledger, SEED_ENTERPRISES, seed=7, batch_size=64)
    filed = record_entry("enterprise.filed", enterprise_payload(999_999), "officer:test")
    graded = {"uscc": uscc(999_999), "grade": "B", "score": 0, "policy": "cn-ciq-2014"}
    graded |= {"as_of_size": ledger.size() + 1, "reasons_digest": "A" * 43 + "="}
    appended = ledger.append([filed, record_entry("credit.graded", graded, "system:credit")])
    assert not appended.rejected
    assert not ledger.append([redaction(3)]).rejected
    size = ledger.size()
    assert size > 5 * SEED_ENTERPRISES
    before = verify_database(blank, signer.verifier, ORIGIN)

    _migrate_all(blank)

    assert schema_differences(blank) == []
    after = verify_database(blank, signer.verifier, ORIGIN)
    assert (after.size, after.root, after.checkpoints) == (size, before.root, before.checkpoints)
    assert after.redacted == 1
    report = replay(blank)
    assert report.equal, report.examples
    assert report.entries == size
    upgraded = Ledger(blank, signer, ORIGIN, hooks=[Projector(violation_item_check())])
    assert upgraded.append([redaction(4)]).first_index == size  # the log goes on
    assert replay(blank).equal
