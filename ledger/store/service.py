"""The append service: group commit for concurrent writers.

Writers hand entries to one sequencer thread. While a batch is being committed,
new requests queue up, and the next transaction takes all of them: many writers
share one transaction, one fsync and one signed checkpoint, and each gets back
its index, leaf hash, the checkpoint and its inclusion proof.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from contextvars import ContextVar
from dataclasses import dataclass

from ledger.errors import EntryRejected
from ledger.store.engine import purge_old_row_versions
from ledger.store.entries import NewEntry, SignedCheckpoint
from ledger.store.log import Ledger
from ledger.tlog.checkpoint import format_tlog_proof

DEFAULT_MAX_BATCH = 2048

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What a writer gets once its entry is committed."""

    index: int
    leaf_hash: bytes
    checkpoint: SignedCheckpoint
    audit_path: list[bytes]
    repeated: bool = False  # a retry: the entry was appended by an earlier request

    @property
    def tlog_proof(self) -> str:
        return format_tlog_proof(self.index, self.audit_path, self.checkpoint.note)


class ServiceClosed(RuntimeError):
    """The append service is shut down and takes no more entries."""


class RequestAbandoned(EntryRejected):
    """The request the entry belongs to was given up (answered 503 past its time limit)
    before the sequencer took the entry: it is not written."""


class RequestWrites:
    """The appends of one request (``REQUEST_WRITES`` while it runs), so that a request
    past its time limit is either given up before the sequencer has taken any of them,
    and then nothing of it is ever written, or waited for, and then what it wrote is
    acknowledged: never a 503 followed by a write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: list[Future[Receipt]] = []
        self.abandoned = False

    def add(self, future: Future[Receipt]) -> None:
        """Count ``future`` as this request's; RequestAbandoned once it is given up."""
        with self._lock:
            if self.abandoned:
                raise RequestAbandoned("the request was given up at its time limit")
            self._futures.append(future)

    def abandon(self) -> bool:
        """Give the request up: True when none of its appends is taken or committed (each
        queued one is cancelled, the sequencer drops it, and any later one is refused);
        False when one is, and the request must be waited for."""
        with self._lock:
            if any(_taken(f) for f in self._futures):
                return False
            if not all(f.cancel() or not _taken(f) for f in self._futures):
                return False  # the sequencer took one meanwhile
            self.abandoned = True
            return True


def _taken(future: Future[Receipt]) -> bool:
    """Taken by the sequencer and not refused: being committed, or committed."""
    if future.running():
        return True
    return future.done() and not future.cancelled() and future.exception() is None


# The writes of the request being served, if it is one (lookup_api.middleware.time_limited
# sets it for each request's task; a handler's thread inherits it).
REQUEST_WRITES: ContextVar[RequestWrites | None] = ContextVar(
    "credtrace_request_writes", default=None
)


_STOP = object()


class AppendService:
    def __init__(self, ledger: Ledger, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[NewEntry, Future[Receipt]] | object] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopping = False  # the sequencer has taken the stop signal
        self._start_lock = threading.Lock()
        self.batches = 0
        self.appended = 0
        # Told the size of every committed batch (the service's metrics), if set.
        self.on_batch: Callable[[int], None] | None = None

    def start(self) -> AppendService:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ledger-sequencer", daemon=True
                )
                self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking entries; everything already queued is still committed."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, entry: NewEntry) -> Future[Receipt]:
        if self._closed:
            raise ServiceClosed("the append service is closed")
        self.start()
        future: Future[Receipt] = Future()
        writes = REQUEST_WRITES.get()
        if writes is not None:
            writes.add(future)
        self._queue.put((entry, future))
        return future

    def append(self, entry: NewEntry, timeout: float | None = 60.0) -> Receipt:
        """Append one entry and wait until it is committed with its proof; RequestAbandoned
        when its request was given up while the entry waited (``RequestWrites``)."""
        try:
            return self.submit(entry).result(timeout)
        except CancelledError as exc:
            raise RequestAbandoned("the request was given up at its time limit") from exc

    async def append_async(self, entry: NewEntry) -> Receipt:
        return await asyncio.wrap_future(self.submit(entry))

    def _run(self) -> None:
        self._stopping = False
        while not self._stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            self._commit(self._take([first], self.max_batch))  # type: ignore[list-item]

    def _take(
        self, batch: list[tuple[NewEntry, Future[Receipt]]], limit: int
    ) -> list[tuple[NewEntry, Future[Receipt]]]:
        """``batch`` and what is queued behind it, up to ``limit`` in all: the requests
        still wanted (a cancelled one is dropped)."""
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._stopping = True
                break
            batch.append(item)  # type: ignore[arg-type]
        return [(entry, future) for entry, future in batch if future.set_running_or_notify_cancel()]

    def _commit(self, batch: list[tuple[NewEntry, Future[Receipt]]]) -> None:
        live = batch
        if not live:
            return

        def more() -> list[NewEntry]:
            # What came while this batch waited for the write lock (held by another
            # worker's batch): it goes in this transaction, not in a later one.
            if self._stopping or len(live) >= self.max_batch:
                return []
            extra = self._take([], self.max_batch - len(live))
            live.extend(extra)
            return [entry for entry, _ in extra]

        try:
            result = self.ledger.append([entry for entry, _ in live], more=more)
        except BaseException as exc:
            for _, future in live:
                future.set_exception(exc)
            return
        self.batches += 1
        if self.on_batch is not None:
            self.on_batch(len(live))
        if any(
            entry.redacts is not None and index is not None
            for (entry, _), index in zip(live, result.indices, strict=True)
        ) and not purge_old_row_versions(self.ledger.engine):
            # The redaction holds; the old bytes go at the next checkpoint instead.
            log.warning("WAL busy after a redaction: the old pages go at the next checkpoint")
        checkpoint = result.checkpoint
        for position, (_, future) in enumerate(live):
            index = result.indices[position]
            if index is None:
                future.set_exception(
                    result.rejected.get(position) or EntryRejected("entry refused")
                )
                continue
            try:
                if position in result.repeated:
                    future.set_result(self._first_receipt(index))
                    continue
                assert checkpoint is not None
                leaf_hash = result.leaf_hashes[index - result.first_index]
                # Proofs come from the tiles the sequencer has just cached: no reads.
                path = self.ledger.inclusion_proof(index, checkpoint.size)
            except BaseException as exc:  # the entry is committed; report, do not lose it
                future.set_exception(exc)
                continue
            self.appended += 1
            future.set_result(Receipt(index, leaf_hash, checkpoint, path))

    def _first_receipt(self, index: int) -> Receipt:
        """The receipt the first request got: its entry, under its batch's checkpoint."""
        checkpoint = self.ledger.first_checkpoint_covering(index)
        stored = self.ledger.entry(index)
        assert checkpoint is not None and stored is not None
        path = self.ledger.inclusion_proof(index, checkpoint.size)
        return Receipt(index, stored.leaf_hash, checkpoint, path, repeated=True)
