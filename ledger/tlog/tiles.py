"""C2SP tlog-tiles coordinates, paths and per-tile subtree hashing.

A tile at level L, index N holds up to 256 hashes of perfect subtrees of 256**L
leaves. A Merkle node (height h, index k) lives in tile level h // 8 and is the
root of 2**(h % 8) consecutive hashes of that tile.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.errors import InvalidInput
from ledger.tlog.merkle import HASH_SIZE, NODE_PREFIX, fold_right

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

_sha256 = hashlib.sha256
_PATH = re.compile(
    r"(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


class TilePathError(InvalidInput):
    """A tile path does not follow the tlog-tiles layout."""


@dataclass(frozen=True)
class TileAddress:
    level: int  # -1 for entry bundles
    index: int
    width: int  # 256 for a full tile

    @property
    def is_entries(self) -> bool:
        return self.level < 0


def encode_index(index: int) -> str:
    """1234067 -> x001/x234/067."""
    parts = []
    while True:
        parts.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    parts.reverse()
    return "/".join([*("x" + p for p in parts[:-1]), parts[-1]])


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


def parse_tile_path(path: str) -> TileAddress:
    """Parse the part after ``tile/``: ``0/x001/234``, ``entries/005.p/17`` ..."""
    match = _PATH.fullmatch(path)
    if not match:
        raise TilePathError(f"{path!r} is not a tile path such as 0/x001/234 or entries/005.p/17")
    level_text = match["level"]
    level = -1 if level_text == "entries" else int(level_text)
    if level > 63:
        raise TilePathError(f"tile level {level} is above 63")
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = TILE_WIDTH
    if match["width"]:
        width = int(match["width"])
        if width >= TILE_WIDTH:
            raise TilePathError(f"partial tile width must be 1..255, got {width}")
    return TileAddress(level, index, width)


def partial_width(size: int, level: int) -> int:
    """Width of the rightmost (partial) tile at ``level`` for a tree of ``size``; 0 if none."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def tiles_for_size(size: int, level: int) -> tuple[int, int]:
    """(number of full tiles, width of the partial tile) at ``level`` for a tree of ``size``."""
    count = size >> (TILE_HEIGHT * level)
    return count >> TILE_HEIGHT, count % TILE_WIDTH


def hash_pairs(level_bytes: bytes) -> bytes:
    """One tree level up: pair consecutive 32-byte hashes (an odd last one is dropped)."""
    return b"".join(
        _sha256(NODE_PREFIX + level_bytes[i : i + 64]).digest()
        for i in range(0, len(level_bytes) - 63, 64)
    )


@dataclass
class TileTree:
    """A tile's hashes plus every complete subtree above them, computed once."""

    hashes: bytes
    levels: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.levels:
            self.levels = [self.hashes]
            while len(self.levels[-1]) >= 2 * HASH_SIZE:
                self.levels.append(hash_pairs(self.levels[-1]))

    @property
    def width(self) -> int:
        return len(self.hashes) // HASH_SIZE

    def node(self, sublevel: int, position: int) -> bytes:
        """Root of the 2**sublevel hashes starting at ``position << sublevel``."""
        start = position * HASH_SIZE
        return self.levels[sublevel][start : start + HASH_SIZE]

    def has_node(self, sublevel: int, position: int) -> bool:
        return (position + 1) << sublevel <= self.width

    @property
    def root(self) -> bytes:
        """MTH of a full tile (256 hashes)."""
        return self.levels[TILE_HEIGHT]


def node_location(level: int, index: int) -> tuple[int, int, int, int]:
    """Merkle node (level, index) -> (tile level, tile index, sublevel, position in sublevel)."""
    tile_level, sublevel = divmod(level, TILE_HEIGHT)
    first = index << sublevel  # index of its first hash among the tile level's hashes
    return tile_level, first >> TILE_HEIGHT, sublevel, (first % TILE_WIDTH) >> sublevel


class GrowingTile:
    """The rightmost tile of a level, with its inner subtrees kept up to date as it grows."""

    __slots__ = ("levels",)

    def __init__(self, hashes: bytes = b"") -> None:
        self.levels = [bytearray() for _ in range(TILE_HEIGHT + 1)]
        if hashes:
            self.extend(hashes)

    @property
    def width(self) -> int:
        return len(self.levels[0]) // HASH_SIZE

    @property
    def hashes(self) -> bytes:
        return bytes(self.levels[0])

    def extend(self, hashes: bytes) -> None:
        levels = self.levels
        levels[0] += hashes
        for j in range(TILE_HEIGHT):
            below, above = levels[j], levels[j + 1]
            paired = len(above) * 2
            usable = (len(below) - paired) // 64 * 64
            if not usable:
                break
            above += hash_pairs(bytes(below[paired : paired + usable]))

    def tree(self) -> TileTree:
        levels = [bytes(level) for level in self.levels if level]
        return TileTree(levels[0] if levels else b"", levels)

    def pieces(self) -> list[bytes]:
        """Perfect subtrees covering the tile's hashes, left to right, largest first."""
        width = self.width
        out = []
        start = 0
        for sublevel in range(TILE_HEIGHT, -1, -1):
            if width & (1 << sublevel):
                pos = (start >> sublevel) * HASH_SIZE
                out.append(bytes(self.levels[sublevel][pos : pos + HASH_SIZE]))
                start += 1 << sublevel
        return out


class TreeBuilder:
    """Builds a tree's tiles and roots from its leaf hashes, one right edge per level.

    The sequencer appends with it and every verifier recomputes with it; a full
    tile is handed to ``on_full_tile(level, index, tile)`` as it closes.
    """

    def __init__(self, size: int = 0, partials: list[bytes] | None = None) -> None:
        self.size = size
        self.edge: list[GrowingTile] = []
        self.edge_index: list[int] = []
        for level, hashes in enumerate(partials or []):
            self._add_level()
            self.edge[level] = GrowingTile(hashes)
            self.edge_index[level] = size >> (TILE_HEIGHT * (level + 1))
        self.on_full_tile: Callable[[int, int, GrowingTile], None] | None = None

    def _add_level(self) -> None:
        level = len(self.edge)
        self.edge.append(GrowingTile())
        self.edge_index.append(self.size >> (TILE_HEIGHT * (level + 1)))

    def extend(self, leaf_hashes: bytes) -> None:
        """Append concatenated leaf hashes."""
        self._push(0, leaf_hashes)
        self.size += len(leaf_hashes) // HASH_SIZE

    def _push(self, level: int, hashes: bytes) -> None:
        if len(self.edge) <= level:
            self._add_level()
        tile = self.edge[level]
        while hashes:
            room = (TILE_WIDTH - tile.width) * HASH_SIZE
            tile.extend(hashes[:room])
            hashes = hashes[room:]
            if tile.width == TILE_WIDTH:
                root = bytes(tile.levels[TILE_HEIGHT])
                if self.on_full_tile is not None:
                    self.on_full_tile(level, self.edge_index[level], tile)
                tile = self.edge[level] = GrowingTile()
                self.edge_index[level] += 1
                self._push(level + 1, root)

    def partial_tiles(self) -> list[tuple[int, int, GrowingTile]]:
        """(level, index, tile) of every non-empty partial tile."""
        return [
            (level, self.edge_index[level], tile)
            for level, tile in enumerate(self.edge)
            if tile.width
        ]

    def root(self) -> bytes:
        pieces: list[bytes] = []
        for tile in reversed(self.edge):
            pieces.extend(tile.pieces())
        return fold_right(pieces)
