"""Ledger tables. The Alembic migrations under ``ledger/store/migrations`` create them;
these models are the reference the application and ``alembic check`` compare to."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

# SQLite only treats a column declared exactly INTEGER PRIMARY KEY as the rowid,
# which keeps appends to a single B-tree; PostgreSQL gets BIGINT.
IndexType = BigInteger().with_variant(Integer(), "sqlite")


class LedgerMeta(SQLModel, table=True):
    """Identity of the log: origin and verifier key, fixed at the first start."""

    __tablename__ = "ledger_meta"
    key: str = Field(sa_column=Column(Text, primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))


class LedgerEntry(SQLModel, table=True):
    """One entry: the envelope (leaf input) and its salted payload."""

    __tablename__ = "ledger_entries"
    idx: int = Field(sa_column=Column(IndexType, primary_key=True, autoincrement=False))
    leaf_input: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Both NULL once redacted; nothing else about an entry ever changes.
    salt: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    payload: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class LedgerTile(SQLModel, table=True):
    """A tlog tile; the rightmost tile of a level grows by appending hashes only."""

    __tablename__ = "ledger_tiles"
    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LedgerCheckpoint(SQLModel, table=True):
    """Every signed checkpoint, one per committed append batch."""

    __tablename__ = "ledger_checkpoints"
    size: int = Field(sa_column=Column(IndexType, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))


class LedgerRedaction(SQLModel, table=True):
    """Which entry redacted which; the database only lets a listed entry's payload go."""

    __tablename__ = "ledger_redactions"
    target: int = Field(sa_column=Column(IndexType, primary_key=True, autoincrement=False))
    entry: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))


class LedgerLeafIndex(SQLModel, table=True):
    """Leaf hash (first 8 bytes, signed) to entry index, for proofs by leaf hash."""

    __tablename__ = "ledger_leaf_index"
    __table_args__ = {"sqlite_with_rowid": False}
    prefix: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class LedgerProgress(SQLModel, table=True):
    """How far a derived index (such as the leaf index) has caught up with the log."""

    __tablename__ = "ledger_progress"
    name: str = Field(sa_column=Column(Text, primary_key=True))
    upto: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerRequestKey(SQLModel, table=True):
    """A caller's key for an append request, so that a retry returns the first entry."""

    __tablename__ = "ledger_request_keys"
    request_key: str = Field(sa_column=Column(Text, primary_key=True))
    idx: int = Field(sa_column=Column(BigInteger, nullable=False))
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LedgerLock(SQLModel, table=True):
    """A single row the PostgreSQL sequencer locks (SQLite uses BEGIN IMMEDIATE)."""

    __tablename__ = "ledger_lock"
    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
