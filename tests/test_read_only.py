"""A read never starts a write: reads work on a read-only database and never wait for the lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, exc

from ledger.store.engine import create_db_engine, migrate, read_transaction, write_transaction
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import entry

WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE", "CREATE", "DROP")


def _reads(ledger: Ledger) -> dict[str, Any]:
    """Every kind of read the log offers, on a log of 360 entries (60 not yet indexed)."""
    checkpoint = ledger.latest_checkpoint()
    assert checkpoint is not None and checkpoint.size == 360
    indexed, unindexed = ledger.entry(5), ledger.entry(340)
    assert indexed is not None and unindexed is not None
    return {
        "entry": indexed,
        "entries": ledger.entries(250, 310),
        "checkpoint": checkpoint,
        "checkpoint_at": ledger.checkpoint_at(300),
        "first_covering": ledger.first_checkpoint_covering(301),
        "size": ledger.size(),
        "root": ledger.root(359),
        "inclusion": ledger.inclusion_proof(17, 360),
        "consistency": ledger.consistency_proof(300, 360),
        "tlog_proof": ledger.tlog_proof(17, checkpoint),
        "full_tile": ledger.tile_bytes(0, 0, 256),
        "partial_tile": ledger.tile_bytes(0, 1, 104),
        "bundle": ledger.entry_bundle(0, 256),
        "redaction_of": ledger.redaction_of(3),
        "indexed_leaf": ledger.index_of_leaf(indexed.leaf_hash),
        "unindexed_leaf": ledger.index_of_leaf(unindexed.leaf_hash),
        "unknown_leaf": ledger.index_of_leaf(bytes(32)),
    }


@pytest.fixture
def written(tmp_path: Path, signer: Signer) -> Iterator[tuple[Path, Engine, dict[str, Any]]]:
    path = tmp_path / "ledger.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    writer = Ledger(engine, signer, ORIGIN)
    writer.append([entry() for _ in range(300)])
    list(writer.append_bulk((entry() for _ in range(60)), batch_size=30))  # leaves left unindexed
    expected = _reads(Ledger(engine, signer, ORIGIN))  # a fresh object: nothing cached
    assert expected["indexed_leaf"] == 5 and expected["unindexed_leaf"] == 340
    assert expected["unknown_leaf"] is None
    try:
        yield path, engine, expected
    finally:
        engine.dispose()


def _no_waiting(engine: Engine) -> list[str]:
    """Make ``engine`` fail at once on a lock instead of waiting; returns the SQL it runs."""
    statements: list[str] = []

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    return statements


@pytest.mark.parametrize("mode", ["read-only file", "read-write file"])
def test_reads_work_while_a_writer_holds_the_lock(
    written: tuple[Path, Engine, dict[str, Any]], signer: Signer, mode: str
) -> None:
    path, engine, expected = written
    url = f"sqlite:///file:{path}?mode=ro&uri=true" if mode == "read-only file" else None
    reader_engine = create_db_engine(url or f"sqlite:///{path}")
    statements = _no_waiting(reader_engine)
    try:
        with write_transaction(engine):  # BEGIN IMMEDIATE: the write lock is taken
            reader = Ledger(reader_engine, signer, ORIGIN)  # identity already pinned: it reads
            assert _reads(reader) == expected
    finally:
        reader_engine.dispose()
    assert statements, "the reads ran through the engine"
    assert not [s for s in statements if s.lstrip().upper().startswith(WRITES)], statements


def test_a_read_only_file_refuses_writes(written: tuple[Path, Engine, dict[str, Any]]) -> None:
    path, _, _ = written
    reader_engine = create_db_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with (
            pytest.raises(exc.OperationalError, match="readonly"),
            write_transaction(reader_engine) as conn,
        ):
            conn.exec_driver_sql("DELETE FROM ledger_request_keys")
    finally:
        reader_engine.dispose()


def test_a_read_transaction_is_read_only(ledger: Ledger) -> None:
    ledger.append([entry()])
    with read_transaction(ledger.engine) as conn:
        if ledger.engine.dialect.name == "sqlite":
            pytest.skip(
                "SQLite: read-only is the file's mode (tested above), not the transaction's"
            )
        with pytest.raises(exc.DBAPIError, match="read-only"):
            conn.exec_driver_sql("DELETE FROM ledger_request_keys")
