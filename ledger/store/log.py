"""The log: one object over the sequencer, the leaf index and the reader.

``Ledger`` pins the log's identity when it opens and hands each call to the
part that does it: appends to ``Sequencer`` (``sequencer.py``), leaf-hash
lookups to ``LeafIndex`` (``leaf_index.py``), every read and proof to
``LogReader`` (``reader.py``). They share one tile cache. One process may hold
many ``Ledger`` objects; appends are serialised by the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine

from ledger.store.entries import (
    BatchHook,
    BatchResult,
    CommitListener,
    NewEntry,
    SignedCheckpoint,
    StoredEntry,
)
from ledger.store.identity import pin_identity
from ledger.store.leaf_index import CATCH_UP_CHUNK, LeafIndex
from ledger.store.reader import LogReader
from ledger.store.sequencer import SEQUENCER_BULK_BATCH, Sequencer
from ledger.store.tile_cache import TileCache
from ledger.tlog.note import Signer, Verifier


class Ledger:
    """Append to and read from the log stored behind ``engine``."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        origin: str,
        hooks: Sequence[BatchHook] = (),
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.origin = origin
        self.verifier: Verifier = signer.verifier
        self.tiles = TileCache()
        self.sequencer = Sequencer(engine, signer, origin, self.tiles, list(hooks))
        self.leaf_index = LeafIndex(engine, self.tiles)
        self.reader = LogReader(engine, self.tiles, self.leaf_index)
        pin_identity(engine, origin, self.verifier)

    @property
    def hooks(self) -> list[BatchHook]:
        return self.sequencer.hooks

    @hooks.setter
    def hooks(self, hooks: Sequence[BatchHook]) -> None:
        self.sequencer.hooks = list(hooks)

    @property
    def listeners(self) -> list[CommitListener]:
        """Told of every committed batch (ledger.store.entries.CommitListener)."""
        return self.sequencer.listeners

    def reset(self) -> None:
        """Forget cached state after the database was changed behind this object's back."""
        self.sequencer.forget()

    # -- appending ----------------------------------------------------------------

    def append(
        self,
        entries: Sequence[NewEntry],
        *,
        index_leaves: bool = True,
        all_or_nothing: bool = False,
        more: Callable[[], Sequence[NewEntry]] | None = None,
    ) -> BatchResult:
        return self.sequencer.append(
            entries, index_leaves=index_leaves, all_or_nothing=all_or_nothing, more=more
        )

    def append_bulk(
        self,
        entries: Iterable[NewEntry],
        *,
        batch_size: int = SEQUENCER_BULK_BATCH,
        progress: Callable[[BatchResult], None] | None = None,
        all_or_nothing: bool = False,
    ) -> Iterator[BatchResult]:
        return self.sequencer.append_bulk(
            entries, batch_size=batch_size, progress=progress, all_or_nothing=all_or_nothing
        )

    def catch_up_leaf_index(
        self,
        chunk: int = CATCH_UP_CHUNK,
        progress: Callable[[int], object] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Index leaf hashes that bulk appends left out; returns how many were added."""
        return self.leaf_index.catch_up(chunk, progress, stop)

    # -- reading -------------------------------------------------------------------

    def latest_checkpoint(self, conn: Connection | None = None) -> SignedCheckpoint | None:
        return self.reader.latest_checkpoint(conn)

    def checkpoint_at(self, size: int, conn: Connection | None = None) -> SignedCheckpoint | None:
        return self.reader.checkpoint_at(size, conn)

    def first_checkpoint_covering(
        self, index: int, conn: Connection | None = None
    ) -> SignedCheckpoint | None:
        return self.reader.first_checkpoint_covering(index, conn)

    def size(self) -> int:
        return self.reader.size()

    def entry(self, index: int, conn: Connection | None = None) -> StoredEntry | None:
        return self.reader.entry(index, conn)

    def entries(self, start: int, end: int, conn: Connection | None = None) -> list[StoredEntry]:
        return self.reader.entries(start, end, conn)

    def redaction_of(self, index: int, conn: Connection | None = None) -> int | None:
        return self.reader.redaction_of(index, conn)

    def index_of_leaf(self, leaf_hash: bytes, conn: Connection | None = None) -> int | None:
        return self.reader.index_of_leaf(leaf_hash, conn)

    def root(self, size: int, conn: Connection | None = None) -> bytes:
        return self.reader.root(size, conn)

    def inclusion_proof(self, index: int, size: int, conn: Connection | None = None) -> list[bytes]:
        return self.reader.inclusion_proof(index, size, conn)

    def consistency_proof(
        self, first: int, second: int, conn: Connection | None = None
    ) -> list[bytes]:
        return self.reader.consistency_proof(first, second, conn)

    def tlog_proof(
        self, index: int, checkpoint: SignedCheckpoint, conn: Connection | None = None
    ) -> str:
        return self.reader.tlog_proof(index, checkpoint, conn)

    def tile_bytes(
        self, level: int, index: int, width: int, conn: Connection | None = None
    ) -> bytes | None:
        return self.reader.tile_bytes(level, index, width, conn)

    def entry_bundle(self, index: int, width: int, conn: Connection | None = None) -> bytes | None:
        return self.reader.entry_bundle(index, width, conn)
