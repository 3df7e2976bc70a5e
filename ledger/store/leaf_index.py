"""The leaf-hash index: which entry has a given leaf hash.

Rows hold the first 8 bytes of a leaf hash (as a signed 64-bit integer) and the
entry's index; a lookup compares the full hash of each candidate. Appends index
their leaves in the same transaction; bulk appends leave a backlog that
``catch_up`` fills in order, tracked by the ``upto`` mark in ``ledger_progress``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from ledger.store import statements
from ledger.store.engine import read_transaction, write_transaction
from ledger.store.tile_cache import TileCache, TileReader
from ledger.tlog.merkle import HASH_SIZE
from ledger.tlog.tiles import TILE_HEIGHT

CATCH_UP_CHUNK = 262_144  # leaves indexed per transaction when catching up


def leaf_prefix(leaf_hash: bytes) -> int:
    """The indexed key of a leaf hash: its first 8 bytes as a signed 64-bit integer."""
    return int.from_bytes(leaf_hash[:8], "big", signed=True)


def index_rows(first: int, leaf_hashes: list[bytes]) -> list[tuple[int, int]]:
    """(prefix, index) rows for consecutive leaves from ``first``, in key order."""
    return sorted((leaf_prefix(h), first + i) for i, h in enumerate(leaf_hashes))


def insert(conn: Connection, first: int, leaf_hashes: list[bytes]) -> None:
    """Index leaves ``first, first + 1, ...`` and move the mark past them."""
    statements.insert_leaf_prefixes(conn, index_rows(first, leaf_hashes), first + len(leaf_hashes))


def index_batch(conn: Connection, first: int, leaf_hashes: list[bytes]) -> None:
    """Index a freshly appended batch, unless a bulk backlog must be filled first."""
    if statements.leaf_index_upto(conn) == first:
        insert(conn, first, leaf_hashes)
    # else: a backlog from a bulk import; LeafIndex.catch_up fills it in order


class LeafIndex:
    def __init__(self, engine: Engine, tiles: TileCache) -> None:
        self.engine = engine
        self.tiles = tiles

    def behind(self) -> bool:
        with read_transaction(self.engine) as conn:
            return statements.leaf_index_upto(conn) < statements.log_size(conn)

    def catch_up(
        self,
        chunk: int = CATCH_UP_CHUNK,
        progress: Callable[[int], object] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Index leaf hashes that bulk appends left out; returns how many were added."""
        added = 0
        while stop is None or not stop.is_set():
            with write_transaction(self.engine) as conn:
                upto = statements.leaf_index_upto(conn)
                size = statements.log_size(conn)
                if upto >= size:
                    return added
                end = min(size, upto + chunk)
                insert(conn, upto, TileReader(conn, self.tiles).leaf_hashes(upto, end))
            added += end - upto
            if progress:
                progress(end - upto)
        return added

    def find(self, conn: Connection, leaf_hash: bytes) -> int | None:
        """The index of the entry whose leaf hash is ``leaf_hash``, if there is one.

        Only reads: leaves a bulk append has not indexed yet are looked for in
        the level-0 tiles, so a lookup never waits for (or takes) the write lock.
        """
        if len(leaf_hash) != HASH_SIZE:
            return None
        for index in statements.indices_with_prefix(conn, leaf_prefix(leaf_hash)):
            entry = statements.entry_at(conn, index)
            if entry is not None and entry.leaf_hash == leaf_hash:
                return index
        upto = statements.leaf_index_upto(conn)
        size = statements.log_size(conn)
        return find_in_tiles(conn, leaf_hash, upto, size) if upto < size else None


TILES_PER_SCAN = 256  # level-0 tiles read per query when scanning unindexed leaves (2 MiB)


def position_in(hashes: bytes, leaf_hash: bytes) -> int | None:
    """The position of ``leaf_hash`` among the concatenated hashes, if it is one of them."""
    at = hashes.find(leaf_hash)
    while at >= 0:
        if at % HASH_SIZE == 0:
            return at // HASH_SIZE
        at = hashes.find(leaf_hash, at + 1)
    return None


def find_in_tiles(conn: Connection, leaf_hash: bytes, start: int, end: int) -> int | None:
    """Scan the stored level-0 tiles of entries ``[start, end)`` for ``leaf_hash``."""
    first_tile, last_tile = start >> TILE_HEIGHT, (end - 1) >> TILE_HEIGHT
    for low in range(first_tile, last_tile + 1, TILES_PER_SCAN):
        high = min(last_tile, low + TILES_PER_SCAN - 1)
        for tile_index, hashes in statements.level0_tiles(conn, low, high):
            position = position_in(hashes, leaf_hash)
            if position is not None:
                index = (tile_index << TILE_HEIGHT) + position
                if start <= index < end:
                    return index
    return None
