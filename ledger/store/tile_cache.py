"""Stored tiles, read through a cache: Merkle nodes and leaf hashes for proofs and indexes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import ExitStack

from sqlalchemy import Connection, Engine

from ledger.errors import InvalidInput, LedgerCorruptError
from ledger.store import statements
from ledger.store.engine import read_transaction
from ledger.tlog.merkle import HASH_SIZE, Node
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, TileTree, node_location

TILE_CACHE_SIZE = 4096  # tiles kept in memory; 4096 full tiles are 32 MiB of hashes


class TileCache:
    """LRU of tile trees. A tile only ever grows, so any cached prefix stays valid."""

    def __init__(self, capacity: int = TILE_CACHE_SIZE) -> None:
        self._capacity = capacity
        self._tiles: OrderedDict[tuple[int, int], TileTree] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, level: int, index: int, min_width: int) -> TileTree | None:
        with self._lock:
            tree = self._tiles.get((level, index))
            if tree is None or tree.width < min_width:
                return None
            self._tiles.move_to_end((level, index))
            return tree

    def put(self, level: int, index: int, tree: TileTree) -> None:
        with self._lock:
            current = self._tiles.get((level, index))
            if current is not None and current.width >= tree.width:
                return
            self._tiles[(level, index)] = tree
            self._tiles.move_to_end((level, index))
            while len(self._tiles) > self._capacity:
                self._tiles.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()


class TileReader:
    """Answers Merkle nodes from stored tiles through the cache.

    Without a connection it opens a read transaction only when a tile is not
    cached, so proofs for fresh appends cost no database round trip.
    """

    def __init__(
        self, conn: Connection | None, cache: TileCache, engine: Engine | None = None
    ) -> None:
        self._conn = conn
        self._cache = cache
        self._engine = engine
        self._stack: ExitStack | None = None

    def __enter__(self) -> TileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self._conn = None

    def _connection(self) -> Connection:
        if self._conn is None:
            if self._engine is None:
                raise InvalidInput("tile reader has neither a connection nor an engine")
            self._stack = ExitStack()
            self._conn = self._stack.enter_context(read_transaction(self._engine))
        return self._conn

    def tile(self, level: int, index: int, min_width: int) -> TileTree:
        tree = self._cache.get(level, index, min_width)
        if tree is None:
            hashes = statements.tile_hashes(self._connection(), level, index)
            if hashes is None or len(hashes) < min_width * HASH_SIZE:
                have = 0 if hashes is None else len(hashes) // HASH_SIZE
                raise LedgerCorruptError(
                    f"tile {level}/{index} holds {have} hashes, expected at least {min_width}"
                )
            tree = TileTree(hashes)
            self._cache.put(level, index, tree)
        return tree

    def read_nodes(self, nodes: list[Node]) -> list[bytes]:
        out = []
        for level, index in nodes:
            tile_level, tile_index, sublevel, position = node_location(level, index)
            tree = self.tile(tile_level, tile_index, (position + 1) << sublevel)
            out.append(tree.node(sublevel, position))
        return out

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of entries ``[start, end)``, from the level-0 tiles."""
        out: list[bytes] = []
        for tile_index in range(start >> TILE_HEIGHT, ((end - 1) >> TILE_HEIGHT) + 1):
            tile_start = tile_index << TILE_HEIGHT
            width = min(TILE_WIDTH, end - tile_start)
            tree = self.tile(0, tile_index, width)
            lo = max(start, tile_start) - tile_start
            out.extend(tree.hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(lo, width))
        return out
