"""The head of the log: the tree's right edge, loaded from the stored tiles and checked.

It holds what an append needs (the last leaf hash, the partial tiles) and the
latest signed checkpoint; loading refuses a database whose entries, tiles and
checkpoint disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from ledger.errors import LedgerCorruptError
from ledger.store import statements
from ledger.store.entries import SignedCheckpoint
from ledger.tlog.envelope import ZERO_HASH
from ledger.tlog.merkle import HASH_SIZE
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, TreeBuilder


@dataclass
class Head:
    """The right edge of the tree: enough to append and to compute the root."""

    size: int
    prev: bytes  # leaf hash of the last entry (zero hash when empty)
    builder: TreeBuilder
    checkpoint: SignedCheckpoint | None


def partial_tile_widths(size: int) -> list[tuple[int, int, int]]:
    """(level, tile index, width) of each level's rightmost tile for a tree of ``size``.

    Width 0 means that level has no partial tile (its tiles are all full).
    """
    out = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        out.append((level, count >> TILE_HEIGHT, count % TILE_WIDTH))
        level += 1
    return out


def _partials(conn: Connection, size: int) -> list[bytes]:
    partials: list[bytes] = []
    for level, index, width in partial_tile_widths(size):
        hashes = b""
        if width:
            stored = statements.tile_hashes(conn, level, index) or b""
            if len(stored) != width * HASH_SIZE:
                raise LedgerCorruptError(
                    f"tile {level}/{index} holds {len(stored) // HASH_SIZE} hashes, "
                    f"expected {width} for size {size}"
                )
            hashes = stored
        partials.append(hashes)
    return partials


def _last_leaf_hash(conn: Connection, size: int, partials: list[bytes]) -> bytes:
    if size == 0:
        return ZERO_HASH
    if partials[0]:
        return partials[0][-HASH_SIZE:]
    last_full = (size >> TILE_HEIGHT) - 1
    full = statements.tile_hashes(conn, 0, last_full)
    if full is None or len(full) != TILE_WIDTH * HASH_SIZE:
        raise LedgerCorruptError(f"tile 0/{last_full} is missing or short")
    return full[-HASH_SIZE:]


def load_head(conn: Connection) -> Head:
    """Read the head from the database and check it against the latest checkpoint."""
    checkpoint = statements.latest_checkpoint(conn)
    size = checkpoint.size if checkpoint else 0
    last = statements.last_entry_index(conn)
    entries = 0 if last is None else last + 1
    if entries != size:
        raise LedgerCorruptError(
            f"the log holds {entries} entries but its latest checkpoint is for {size}"
        )
    partials = _partials(conn, size)
    head = Head(
        size, _last_leaf_hash(conn, size, partials), TreeBuilder(size, partials), checkpoint
    )
    if checkpoint is not None and head.builder.root() != checkpoint.root:
        raise LedgerCorruptError(
            f"stored tiles give root {head.builder.root().hex()} at size {size}, "
            f"but the signed checkpoint says {checkpoint.root.hex()}"
        )
    return head


def current_head(conn: Connection, cached: Head | None) -> Head:
    """``cached`` while it is still the head of the stored log, otherwise a fresh load."""
    if cached is not None and cached.size == statements.log_size(conn):
        return cached
    return load_head(conn)
