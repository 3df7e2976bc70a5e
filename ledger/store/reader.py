"""Reads of the log: entries, checkpoints, roots, proofs, tiles and entry bundles.

Every read runs in a read-only transaction (or on the caller's connection) and
never takes the sequencer's write lock, so reads go on while a batch commits
and work on a database opened read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy import Connection, Engine

from ledger.store import statements
from ledger.store.engine import driver_statement, is_sqlite, read_statement, read_transaction
from ledger.store.entries import SignedCheckpoint, StoredEntry
from ledger.store.leaf_index import LeafIndex
from ledger.store.tile_cache import TileCache, TileReader
from ledger.tlog import merkle
from ledger.tlog.checkpoint import format_tlog_proof
from ledger.tlog.merkle import HASH_SIZE, ProofError
from ledger.tlog.tiles import TILE_HEIGHT

ENTRY_LENGTH_BYTES = 2  # an entry bundle prefixes each leaf input with its length


def entry_bundle_bytes(entries: list[StoredEntry]) -> bytes:
    """C2SP tlog-tiles entry bundle: each leaf input after its big-endian 16-bit length."""
    return b"".join(
        len(e.leaf_input).to_bytes(ENTRY_LENGTH_BYTES, "big") + e.leaf_input for e in entries
    )


class LogReader:
    def __init__(self, engine: Engine, tiles: TileCache, leaf_index: LeafIndex) -> None:
        self.engine = engine
        self.tiles = tiles
        self.leaf_index = leaf_index

    @contextmanager
    def reading(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's connection, or a read-only transaction of our own."""
        with nullcontext(conn) if conn is not None else read_transaction(self.engine) as c:
            yield c

    def _tile_reader(self, conn: Connection | None) -> TileReader:
        return TileReader(conn, self.tiles, self.engine)

    # -- checkpoints ----------------------------------------------------------------

    def latest_checkpoint(self, conn: Connection | None = None) -> SignedCheckpoint | None:
        with self.reading(conn) as c:
            return statements.latest_checkpoint(c)

    def checkpoint_at(self, size: int, conn: Connection | None = None) -> SignedCheckpoint | None:
        with self.reading(conn) as c:
            return statements.checkpoint_at(c, size)

    def first_checkpoint_covering(
        self, index: int, conn: Connection | None = None
    ) -> SignedCheckpoint | None:
        """The checkpoint signed with the batch that appended ``index``."""
        with self.reading(conn) as c:
            return statements.first_checkpoint_covering(c, index)

    def size(self) -> int:
        """The latest checkpoint's size: one statement, one round trip."""
        if is_sqlite(self.engine):
            with read_statement(self.engine) as conn:
                checkpoint = statements.latest_checkpoint(conn)
            return checkpoint.size if checkpoint else 0
        with driver_statement(self.engine) as driver:
            row = driver.execute(statements.LATEST_SIZE, prepare=True).fetchone()
        return 0 if row is None else int(row[0])

    # -- entries ---------------------------------------------------------------------

    def entry(self, index: int, conn: Connection | None = None) -> StoredEntry | None:
        with self.reading(conn) as c:
            return statements.entry_at(c, index)

    def entries(self, start: int, end: int, conn: Connection | None = None) -> list[StoredEntry]:
        with self.reading(conn) as c:
            return statements.entry_range(c, start, end)

    def redaction_of(self, index: int, conn: Connection | None = None) -> int | None:
        """The index of the entry.redacted entry that redacted ``index``, if any."""
        with self.reading(conn) as c:
            return statements.redaction_of(c, index)

    def index_of_leaf(self, leaf_hash: bytes, conn: Connection | None = None) -> int | None:
        with self.reading(conn) as c:
            return self.leaf_index.find(c, leaf_hash)

    # -- tree --------------------------------------------------------------------------

    def root(self, size: int, conn: Connection | None = None) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        with self._tile_reader(conn) as reader:
            return merkle.fold_right(reader.read_nodes(merkle.perfect_nodes(0, size)))

    def inclusion_proof(self, index: int, size: int, conn: Connection | None = None) -> list[bytes]:
        ranges = merkle.inclusion_ranges(index, size)
        with self._tile_reader(conn) as reader:
            return merkle.resolve_ranges(ranges, reader.read_nodes)

    def consistency_proof(
        self, first: int, second: int, conn: Connection | None = None
    ) -> list[bytes]:
        ranges = merkle.consistency_ranges(first, second)
        with self._tile_reader(conn) as reader:
            return merkle.resolve_ranges(ranges, reader.read_nodes)

    def tlog_proof(
        self, index: int, checkpoint: SignedCheckpoint, conn: Connection | None = None
    ) -> str:
        if not 0 <= index < checkpoint.size:
            raise ProofError(f"entry {index} is not in the tree of size {checkpoint.size}")
        return format_tlog_proof(
            index, self.inclusion_proof(index, checkpoint.size, conn), checkpoint.note
        )

    # -- tiles as served -----------------------------------------------------------------

    def tile_bytes(
        self, level: int, index: int, width: int, conn: Connection | None = None
    ) -> bytes | None:
        """A tile as served: ``width`` hashes, or None when the log has not got that far."""
        cached = self.tiles.get(level, index, width)
        if cached is not None:
            hashes: bytes | None = cached.hashes
        else:
            with self.reading(conn) as c:
                hashes = statements.tile_hashes(c, level, index)
        if hashes is None or len(hashes) < width * HASH_SIZE:
            return None
        return hashes[: width * HASH_SIZE]

    def entry_bundle(self, index: int, width: int, conn: Connection | None = None) -> bytes | None:
        start = index << TILE_HEIGHT
        entries = self.entries(start, start + width, conn)
        if len(entries) < width:
            return None
        return entry_bundle_bytes(entries)
