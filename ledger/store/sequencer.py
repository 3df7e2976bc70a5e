"""The sequencer: appends batches of entries, each one transaction with one checkpoint.

Appends are serialised by the database (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
row lock) and, within a process, by one lock. Each batch's transaction holds its
entries, their tiles, the redactions they perform, whatever the batch hooks
write (projections) and one signed checkpoint, so a crash leaves either all of
it or none of it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from ledger.errors import EntryRejected, RetryBatch
from ledger.store import leaf_index, statements
from ledger.store.clock import LogClock
from ledger.store.engine import write_transaction
from ledger.store.entries import (
    BatchHook,
    BatchResult,
    CommitListener,
    NewEntry,
    SignedCheckpoint,
)
from ledger.store.head import Head, current_head
from ledger.store.tile_cache import TileCache
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.envelope import REDACTION_KIND, SALT_SIZE, encode_chain, parse_envelope
from ledger.tlog.note import Signer
from ledger.tlog.tiles import TileTree

# Entries per transaction of ``append_bulk``: large enough that the per-batch cost
# (a checkpoint signature, the tile writes, one fsync) vanishes, small enough that a
# batch's rows sit comfortably in memory.
SEQUENCER_BULK_BATCH = 20_000

log = logging.getLogger(__name__)


@dataclass
class Screened:
    """A batch after its checks: what goes in, what was refused, and why."""

    accepted: list[NewEntry] = field(default_factory=list)
    rejected: dict[int, EntryRejected] = field(default_factory=dict)
    indices: list[int | None] = field(default_factory=list)
    repeated: set[int] = field(default_factory=set)
    added_refused: list[EntryRejected] = field(default_factory=list)

    def refuse(self, position: int | None, why: EntryRejected) -> None:
        """Refuse the caller's entry at ``position``, or (None) one a hook added."""
        if position is None:
            self.added_refused.append(why)
            log.error("an entry a hook added was refused: %s", why)
            return
        self.rejected[position] = why
        self.indices.append(None)


class _Discarded(Exception):
    """Raised inside the transaction to roll an all-or-nothing batch back."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__("the batch was refused whole")
        self.result = result


def check_redaction(conn: Connection, target: int, index: int, pending: set[int]) -> None:
    """Refuse redacting an entry that does not exist, is a redaction or is redacted already."""
    if not 0 <= target < index:
        raise EntryRejected(f"index: entry {target} does not exist", field="index")
    if target in pending:
        raise EntryRejected(f"index: entry {target} is already being redacted", field="index")
    stored = statements.leaf_input_and_payload(conn, target)
    if stored is None:
        raise EntryRejected(
            f"index: entry {target} is in this batch; redact it in a later one", field="index"
        )
    leaf_input, payload = stored
    if parse_envelope(leaf_input).kind == REDACTION_KIND:
        raise EntryRejected(f"index: entry {target} is itself a redaction", field="index")
    if payload is None:
        raise EntryRejected(f"index: entry {target} is already redacted", field="index")


def changed_tiles(head: Head, leaf_hashes: list[bytes]) -> dict[tuple[int, int], TileTree]:
    """Grow the head's tree by ``leaf_hashes``; the tiles that filled or changed."""
    builder = head.builder
    changed: dict[tuple[int, int], TileTree] = {}
    builder.on_full_tile = lambda level, idx, tile: changed.__setitem__((level, idx), tile.tree())
    builder.extend(b"".join(leaf_hashes))
    builder.on_full_tile = None
    for level, idx, tile in builder.partial_tiles():
        changed[(level, idx)] = tile.tree()
    return changed


class Sequencer:
    """Appends to the log stored behind ``engine``, signing a checkpoint per batch."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        origin: str,
        tiles: TileCache,
        hooks: list[BatchHook],
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.origin = origin
        self.tiles = tiles
        self.hooks = hooks  # shared with the facade, which callers may reassign
        self.listeners: list[CommitListener] = []  # told of each batch, after its commit
        self.head: Head | None = None
        self.last_time: tuple[int, str | None] = (-1, None)  # (size, time of its last entry)
        self.lock = threading.Lock()  # one sequencer per process at a time

    def forget(self) -> None:
        """Drop the cached head and tiles: the next batch reads them from the database."""
        with self.lock:
            self.head = None
            self.tiles.clear()

    def append(
        self,
        entries: Sequence[NewEntry],
        *,
        index_leaves: bool = True,
        all_or_nothing: bool = False,
        more: Callable[[], Sequence[NewEntry]] | None = None,
    ) -> BatchResult:
        """Append ``entries`` in one transaction with one checkpoint.

        Entries that a check refuses are left out and reported in ``rejected``;
        the others are appended in order. With ``all_or_nothing`` one refusal
        means nothing of the batch is written. ``more``, called once the write lock is
        held, gives entries to append after ``entries`` in the same transaction (those
        that came while another process held the lock); the result covers them too.
        """
        batch = list(entries)
        with self.lock:
            try:
                return self._append(batch, index_leaves, all_or_nothing, more)
            except RetryBatch:
                self.head = None  # not continuing: hooks check everything this time
                return self._append(batch, index_leaves, all_or_nothing, None)

    def append_bulk(
        self,
        entries: Iterable[NewEntry],
        *,
        batch_size: int = SEQUENCER_BULK_BATCH,
        progress: Callable[[BatchResult], None] | None = None,
        all_or_nothing: bool = False,
    ) -> Iterator[BatchResult]:
        """Append a stream in transactions of ``batch_size`` entries, each checkpointed.

        The leaf-hash index is left for ``catch_up_leaf_index`` so the bulk path
        writes sequentially; call it when the stream is done.
        """
        batch: list[NewEntry] = []
        for entry in entries:
            batch.append(entry)
            if len(batch) >= batch_size:
                result = self.append(batch, index_leaves=False, all_or_nothing=all_or_nothing)
                if progress:
                    progress(result)
                yield result
                batch = []
        if batch:
            result = self.append(batch, index_leaves=False, all_or_nothing=all_or_nothing)
            if progress:
                progress(result)
            yield result

    def _append(
        self,
        entries: list[NewEntry],
        index_leaves: bool,
        all_or_nothing: bool,
        more: Callable[[], Sequence[NewEntry]] | None,
    ) -> BatchResult:
        try:
            with write_transaction(self.engine) as conn:
                if more is not None:
                    entries += more()  # kept for a retry of the batch
                cached = self.head
                head = current_head(conn, cached)
                continuing = cached is not None and head is cached
                clock = LogClock(self._time_of_last(conn, head.size))
                now = clock.now
                screened = self._screen(conn, head, entries, continuing, clock)
                if all_or_nothing and screened.rejected:
                    # Rolled back: the hooks may have written the accepted entries' effects.
                    raise _Discarded(
                        BatchResult(
                            head.size,
                            [],
                            head.checkpoint,
                            screened.rejected,
                            [None] * len(entries),
                        )
                    )
                if not screened.accepted:
                    return BatchResult(
                        head.size,
                        [],
                        head.checkpoint,
                        screened.rejected,
                        screened.indices,
                        screened.repeated,
                    )
                first, leaf_hashes, new_head = self._write_batch(
                    conn, head, screened.accepted, index_leaves, now
                )
            self.head = new_head
            self.last_time = (new_head.size, clock.last)
            for listener in self.listeners:
                listener.committed()
            return BatchResult(
                first,
                leaf_hashes,
                new_head.checkpoint,
                screened.rejected,
                screened.indices,
                screened.repeated,
            )
        except _Discarded as discarded:
            self.head = None  # re-read the edge: nothing of the batch is left
            return discarded.result
        except BaseException:
            self.head = None  # whatever happened, re-read the edge from the database
            raise

    def _screen(
        self,
        conn: Connection,
        head: Head,
        entries: Sequence[NewEntry],
        continuing: bool,
        clock: LogClock,
    ) -> Screened:
        now = clock.now  # the time stamped on entries that give none (the batch's own)
        for hook in self.hooks:
            hook.begin(conn, entries, continuing)
        out = Screened()
        redacting: set[int] = set()
        known = statements.request_keys(
            conn, sorted({e.request_key for e in entries if e.request_key is not None})
        )
        for position, entry in enumerate(entries):
            self._screen_one(conn, head, out, entry, position, known, redacting, clock, now)
        # What the hooks add (a regrading, say) goes in the same batch, checked the same
        # way; it has no position among the caller's entries.
        # Their time is the batch's latest, or now for a batch of nothing else; never
        # later than the batch's own entries, which may be historical.
        size = head.size + len(out.accepted)
        time = clock.last if out.accepted else now
        added = [e for hook in self.hooks for e in hook.more(conn, size, time)]
        for entry in added:
            self._screen_one(conn, head, out, entry, None, known, redacting, clock, now)
        return out

    def _screen_one(  # noqa: PLR0917 - the screening's running state
        self,
        conn: Connection,
        head: Head,
        out: Screened,
        entry: NewEntry,
        position: int | None,
        known: dict[str, tuple[int, bytes]],
        redacting: set[int],
        clock: LogClock,
        now: str,
    ) -> None:
        """Check one entry: accept it into ``out`` or record why it is refused; ``now`` is
        the time stamped on entries that give none."""
        index = head.size + len(out.accepted)
        if entry.request_key is not None and entry.request_key in known:
            first_index, first_hash = known[entry.request_key]
            if first_hash != entry.request_hash:
                out.refuse(
                    position,
                    EntryRejected(
                        "this request key was used before for a different record",
                        field="Idempotency-Key",
                    ),
                )
            else:
                assert position is not None
                out.repeated.add(position)
                out.indices.append(first_index)
            return
        try:
            if entry.time is not None and (why := clock.refusal(entry.time)):
                raise EntryRejected(why, field="time")
            if entry.time is None and clock.last > now:
                entry.time = clock.last  # after a given time up to the skew ahead of now
            if entry.redacts is not None:
                check_redaction(conn, entry.redacts, index, redacting)
            for hook in self.hooks:
                hook.check(entry, index, entry.time or now)
        except EntryRejected as exc:
            out.refuse(position, exc)
            return
        clock.accept(entry.time or now)
        if entry.redacts is not None:
            redacting.add(entry.redacts)
        if entry.request_key is not None:
            assert entry.request_hash is not None
            known[entry.request_key] = (index, entry.request_hash)
        out.accepted.append(entry)
        if position is not None:
            out.indices.append(index)

    def _time_of_last(self, conn: Connection, size: int) -> str | None:
        """The time of the log's last entry (cached by size: entries never change)."""
        if size == 0:
            return None
        if self.last_time[0] == size:
            return self.last_time[1]
        envelope = statements.envelope_at(conn, size - 1)
        return None if envelope is None else parse_envelope(envelope).time

    def _write_batch(
        self,
        conn: Connection,
        head: Head,
        entries: Sequence[NewEntry],
        index_leaves: bool,
        now: str,
    ) -> tuple[int, list[bytes], Head]:
        """Write the batch, its tiles and its checkpoint; the first index, leaf hashes, new head."""
        first = head.size
        salts = os.urandom(SALT_SIZE * len(entries))
        envelopes, leaf_hashes = encode_chain(entries, first, head.prev, salts, now)
        changed = changed_tiles(head, leaf_hashes)
        new_size = first + len(entries)
        root = head.builder.root()
        note = Checkpoint(self.origin, new_size, root).sign(self.signer)
        checkpoint = SignedCheckpoint(new_size, root, note)

        statements.insert_entries(
            conn,
            [
                (first + i, envelope, salts[SALT_SIZE * i : SALT_SIZE * (i + 1)], e.payload)
                for i, (envelope, e) in enumerate(zip(envelopes, entries, strict=True))
            ],
        )
        statements.upsert_tiles(
            conn, [(lvl, idx, tree.hashes) for (lvl, idx), tree in changed.items()]
        )
        statements.insert_checkpoint(conn, checkpoint)
        redactions = [
            (e.redacts, first + i) for i, e in enumerate(entries) if e.redacts is not None
        ]
        if redactions:
            statements.insert_redactions(conn, redactions)
            statements.drop_payloads(conn, [target for target, _ in redactions])
        request_keys = [
            (e.request_key, first + i, e.request_hash)
            for i, e in enumerate(entries)
            if e.request_key is not None and e.request_hash is not None
        ]
        if request_keys:
            statements.insert_request_keys(conn, request_keys)
        if index_leaves:
            leaf_index.index_batch(conn, first, leaf_hashes)
        for hook in self.hooks:
            hook.finish(conn, [target for target, _ in redactions])
        for listener in self.listeners:
            listener.written(conn, first, entries)

        for (level, idx), tree in changed.items():
            self.tiles.put(level, idx, tree)
        return first, leaf_hashes, Head(new_size, leaf_hashes[-1], head.builder, checkpoint)
