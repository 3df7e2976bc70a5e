"""The declared schema: one ``MetaData`` that every table of the service is declared on.

The ledger's tables are declared here; the projection tables (``ledger.records.tables``)
declare themselves on the same ``metadata``. The Alembic revisions under
``ledger/store/migrations`` create the tables with literal DDL; ``differences`` compares a
migrated database with what is declared, so a change made to one and not the other shows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()

# SQLite only treats a column declared exactly INTEGER PRIMARY KEY as the rowid,
# which keeps appends to a single B-tree; PostgreSQL gets BIGINT.
IndexType = BigInteger().with_variant(Integer(), "sqlite")

# Identity of the log: origin and verifier key, fixed at the first start.
ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# One entry: the envelope (leaf input) and its salted payload. Salt and payload are both
# NULL once redacted; nothing else about an entry ever changes.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", IndexType, primary_key=True, autoincrement=False),
    Column("leaf_input", LargeBinary, nullable=False),
    Column("salt", LargeBinary, nullable=True),
    Column("payload", LargeBinary, nullable=True),
)

# A tlog tile; the rightmost tile of a level grows by appending hashes only.
ledger_tiles = Table(
    "ledger_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

# Every signed checkpoint, one per committed append batch.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", IndexType, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
)

# Which entry redacted which; the database only lets a listed entry's payload go.
ledger_redactions = Table(
    "ledger_redactions",
    metadata,
    Column("target", IndexType, primary_key=True, autoincrement=False),
    Column("entry", BigInteger, nullable=False, unique=True),
)

# Leaf hash (first 8 bytes, signed) to entry index, for proofs by leaf hash.
ledger_leaf_index = Table(
    "ledger_leaf_index",
    metadata,
    Column("prefix", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# How far a derived index (such as the leaf index) has caught up with the log.
ledger_progress = Table(
    "ledger_progress",
    metadata,
    Column("name", Text, primary_key=True),
    Column("upto", BigInteger, nullable=False),
)

# A caller's key for an append request, so that a retry returns the first entry.
ledger_request_keys = Table(
    "ledger_request_keys",
    metadata,
    Column("request_key", Text, primary_key=True),
    Column("idx", BigInteger, nullable=False),
    Column("request_hash", LargeBinary, nullable=False),
)

# A single row the PostgreSQL sequencer locks (SQLite uses BEGIN IMMEDIATE).
ledger_lock = Table(
    "ledger_lock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
)


def differences(
    engine: Engine, declared: MetaData | Iterable[MetaData], bookkeeping: Collection[str] = ()
) -> list[Any]:
    """What Alembic's autogenerate would change to turn the database into ``declared``.

    Empty when the migrations create exactly the declared schema. Each item is one
    autogenerate operation, such as ``("add_column", None, "proj_enterprises", Column(...))``.
    ``bookkeeping`` names tables that are not part of any schema (Alembic's version tables,
    one per migration chain).
    """
    # Imported here: Alembic costs ~150 ms to import and only this check needs it.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def is_schema_object(name: str | None, type_: str, _parent: Any) -> bool:
        return not (type_ == "table" and name in bookkeeping)

    target = declared if isinstance(declared, MetaData) else list(declared)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": is_schema_object}
        )
        found: list[Any] = compare_metadata(context, target)  # type: ignore[arg-type]
    return found
