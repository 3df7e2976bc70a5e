"""One sequencer for every worker of ``credtrace serve --workers N``.

A worker with a sequencer of its own takes turns with the other workers' on the
database's ledger lock: each of its batches waits for the other's COMMIT, holds half the
writers, and follows a batch it did not write (the head is read again, the hooks check
everything against the database). So ``credtrace serve`` with several workers starts one
sequencer process before them (``main``), listening on a Unix socket in a folder only
its user can enter, and every worker hands its entries to it (``SharedAppendService``)
and gets the receipts back: one group commit for all the workers' writers, whose
batches continue the one before (unless another writer came between: the CLI, the
daily recompute). A request's entry is written to the socket from its event loop and
its receipt read there (no thread between); a thread's (a sync handler's) goes through
this service's thread, in batches.

The wire: frames of a 4-byte big-endian length and a msgpack array of rows. A worker
sends entries, ``[id, kind, subject, payload, actor, time, redacts, request_key,
validated]``; the sequencer answers each, once its batch is committed, with
``[id, OK, index, leaf_hash, size, root, note, audit_path, repeated]`` or
``[id, REFUSED | CLOSED | FAILED, message, field]``.

A receipt is sent only after its batch committed, so no process's death loses an
acknowledged entry. A worker that cannot reach the sequencer (killed, say: the server
starts another) appends through its own, as with one worker (the database lock keeps
the log whole either way), and tries the socket again after ``RECONNECT_SECONDS``; what
it had sent when the connection broke is answered ``SequencerLost`` (a 500): written or
not, it cannot tell (a retry with the same Idempotency-Key is never recorded twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

import msgspec

from ledger.errors import EntryRejected, LedgerError
from ledger.store.entries import NewEntry, SignedCheckpoint
from ledger.store.log import Ledger
from ledger.store.service import (
    DEFAULT_MAX_BATCH,
    REQUEST_WRITES,
    AppendService,
    Receipt,
    ServiceClosed,
)

log = logging.getLogger("credtrace")

SOCKET_ENV = "CREDTRACE_SEQUENCER_SOCKET"  # set by `credtrace serve` for its workers
RECONNECT_SECONDS = 1.0  # a worker that lost the sequencer appends alone this long
CONNECT_TIMEOUT = 5.0
LOST = "the sequencer went away before answering: the entry may be written"
ORPHAN_POLL_SECONDS = 0.5
MAX_FRAME = 1 << 31  # a batch of max_append_batch bodies of max_body_bytes, and more

OK, REFUSED, CLOSED, FAILED = 0, 1, 2, 3
_HEADER = struct.Struct(">I")
_END = object()

Row = list[Any]


class SequencerLost(LedgerError):
    """The connection to the sequencer broke before the entry's receipt came: it may or
    may not be written."""


class AppendFailed(LedgerError):
    """The sequencer could not append the entry (its error, named)."""


def frame(rows: Sequence[Row]) -> bytes:
    body = msgspec.msgpack.encode(rows)
    return _HEADER.pack(len(body)) + body


def frames(sock: socket.socket) -> Iterator[list[Row]]:
    """Every whole frame read from ``sock`` until it closes; ValueError on a bad one."""
    buffer = bytearray()
    while chunk := sock.recv(1 << 16):
        buffer += chunk
        yield from take_frames(buffer)


def take_frames(buffer: bytearray) -> list[list[Row]]:
    """The whole frames at the start of ``buffer``, taken out of it; ValueError on a bad one."""
    taken = []
    while len(buffer) >= _HEADER.size:
        (size,) = _HEADER.unpack_from(buffer)
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes")
        end = _HEADER.size + size
        if len(buffer) < end:
            break
        taken.append(msgspec.msgpack.decode(memoryview(buffer)[_HEADER.size : end]))
        del buffer[:end]
    return taken


def entry_row(number: int, entry: NewEntry) -> Row:
    return [
        number,
        entry.kind,
        entry.subject,
        entry.payload,
        entry.actor,
        entry.time,
        entry.redacts,
        entry.request_key,
        entry.validated,
    ]


def entry_of(row: Row) -> NewEntry:
    """The entry a worker sent; it checked the payload against its kind's schema if it
    says so (the socket is only its own user's)."""
    _, kind, subject, payload, actor, time_, redacts, request_key, validated = row
    entry = NewEntry(
        kind, subject, payload, actor, time=time_, redacts=redacts, request_key=request_key
    )
    entry.validated = bool(validated)
    return entry


def outcome_row(number: int, future: Future[Receipt]) -> Row:
    if future.cancelled():
        return [number, CLOSED, "the append service is closed", None]
    exc = future.exception()
    if exc is None:
        receipt = future.result()
        checkpoint = receipt.checkpoint
        return [
            number,
            OK,
            receipt.index,
            receipt.leaf_hash,
            checkpoint.size,
            checkpoint.root,
            checkpoint.note,
            receipt.audit_path,
            receipt.repeated,
        ]
    if isinstance(exc, EntryRejected):
        return [number, REFUSED, str(exc), exc.field]
    if isinstance(exc, ServiceClosed):
        return [number, CLOSED, str(exc), None]
    return [number, FAILED, f"{type(exc).__name__}: {exc}", None]


def resolve(future: Future[Receipt], row: Row) -> bool:
    """Settle ``future`` with the sequencer's answer; True for a new entry's receipt."""
    status = row[1]
    if status == OK:
        index, leaf_hash, size, root, note, path, repeated = row[2:]
        checkpoint = SignedCheckpoint(size, root, note)
        future.set_result(Receipt(index, leaf_hash, checkpoint, list(path), repeated))
        return not repeated
    message, field = row[2], row[3]
    if status == REFUSED:
        future.set_exception(EntryRejected(message, field=field))
    elif status == CLOSED:
        future.set_exception(ServiceClosed(message))
    else:
        future.set_exception(AppendFailed(message))
    return False


# -- the worker's side -----------------------------------------------------------------


class _Link:
    """One connection to the sequencer, and the entries sent over it not yet answered."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.pending: dict[int, Future[Receipt]] = {}
        self.broken = False


class _LoopLink(asyncio.Protocol):
    """The event loop's connection to the sequencer: its requests' entries are written
    and their receipts read in the loop, with no thread between them and the socket."""

    def __init__(self, owner: SharedAppendService, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, Future[Receipt]] = {}
        self.buffer = bytearray()
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            taken = take_frames(self.buffer)
        except ValueError as exc:
            log.warning("the sequencer sent a bad frame: %s", exc)
            assert self.transport is not None
            self.transport.close()
            return
        for rows in taken:
            for row in rows:
                future = self.pending.pop(row[0], None)
                if future is not None and resolve(future, row):
                    self.owner.count_appended()

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        lost, self.pending = self.pending, {}
        self.owner.loop_link_lost(self)
        for future in lost.values():
            future.set_exception(SequencerLost(LOST))


class SharedAppendService(AppendService):
    """An AppendService whose entries go to the sequencer process at ``path``: a request's
    from the event loop (``append_async``), a thread's in batches from this service's
    thread. While it cannot be reached, they are appended here."""

    def __init__(self, ledger: Ledger, path: Path, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        super().__init__(ledger, max_batch)
        self.path = path
        self._link: _Link | None = None
        self._numbers = itertools.count()
        self._retry_at = 0.0
        self._count_lock = threading.Lock()
        self._loop_link: _LoopLink | None = None
        self._loop_retry_at = 0.0
        self._connecting: asyncio.Task[_LoopLink | None] | None = None
        self._said_unreachable = False

    def _unreachable(self, exc: BaseException) -> None:
        """Say so once while it is gone, not at every retry (one a second)."""
        if not self._said_unreachable:
            self._said_unreachable = True
            log.warning("the sequencer at %s is unreachable (%s): appending here", self.path, exc)

    def count_appended(self) -> None:
        with self._count_lock:
            self.appended += 1

    async def append_async(self, entry: NewEntry) -> Receipt:
        link = await self._loop_connected()
        if link is None or link.broken or link.transport is None:
            return await super().append_async(entry)
        if self._closed:
            raise ServiceClosed("the append service is closed")
        future: Future[Receipt] = Future()
        writes = REQUEST_WRITES.get()
        if writes is not None:
            writes.add(future)
        # Taken once written (the request is then waited for, never given up): in this
        # thread, the loop's, so no abandon() comes in between.
        future.set_running_or_notify_cancel()
        number = next(self._numbers)
        link.pending[number] = future
        link.transport.write(frame([entry_row(number, entry)]))
        return await asyncio.wrap_future(future)

    async def _loop_connected(self) -> _LoopLink | None:
        loop = asyncio.get_running_loop()
        link = self._loop_link
        if link is not None and not link.broken:
            # Another loop's connection (an app started twice): that loop's own.
            return link if link.loop is loop else None
        if time.monotonic() < self._loop_retry_at:
            return None
        if self._connecting is None:
            self._connecting = loop.create_task(self._open_loop_link(loop))
        return await asyncio.shield(self._connecting)

    async def _open_loop_link(self, loop: asyncio.AbstractEventLoop) -> _LoopLink | None:
        try:
            _, link = await asyncio.wait_for(
                loop.create_unix_connection(lambda: _LoopLink(self, loop), str(self.path)),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError) as exc:
            self._loop_retry_at = time.monotonic() + RECONNECT_SECONDS
            self._unreachable(exc)
            return None
        finally:
            self._connecting = None
        self._loop_link = link
        self._said_unreachable = False
        return link

    def loop_link_lost(self, link: _LoopLink) -> None:
        if self._loop_link is link:
            self._loop_link = None
            self._loop_retry_at = time.monotonic() + RECONNECT_SECONDS

    def close(self, timeout: float = 30.0) -> None:
        super().close(timeout)  # everything queued is sent (or appended here)
        loop_link = self._loop_link
        if loop_link is not None and loop_link.transport is not None:
            # Called once the server has answered its requests: nothing is left pending.
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop_link.loop.call_soon_threadsafe(loop_link.transport.close)
        link = self._link
        if link is None:
            return
        deadline = time.monotonic() + timeout
        while link.pending and not link.broken and time.monotonic() < deadline:
            time.sleep(0.01)
        self._break(link)

    def _commit(self, batch: list[tuple[NewEntry, Future[Receipt]]]) -> None:
        unsent = self._forward(batch) if batch else []
        if unsent:
            super()._commit(unsent)

    def _forward(
        self, batch: list[tuple[NewEntry, Future[Receipt]]]
    ) -> list[tuple[NewEntry, Future[Receipt]]]:
        """Send ``batch`` to the sequencer; what could not be sent (none of it is taken)."""
        link = self._connected()
        if link is None:
            return batch
        numbers = [next(self._numbers) for _ in batch]
        with link.lock:
            if link.broken:
                return batch
            link.pending.update(zip(numbers, (future for _, future in batch), strict=True))
        try:
            link.sock.sendall(
                frame([entry_row(n, entry) for n, (entry, _) in zip(numbers, batch, strict=True)])
            )
        except OSError:
            # Not sent whole, so the sequencer parsed none of it: appended here instead.
            with link.lock:
                unsent = [
                    item
                    for n, item in zip(numbers, batch, strict=True)
                    if link.pending.pop(n, None) is not None
                ]
            self._break(link)
            return unsent
        return []

    def _connected(self) -> _Link | None:
        link = self._link
        if link is not None and not link.broken:
            return link
        if time.monotonic() < self._retry_at:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(str(self.path))
            sock.settimeout(None)
        except OSError as exc:
            sock.close()
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            self._unreachable(exc)
            return None
        link = self._link = _Link(sock)
        self._said_unreachable = False
        threading.Thread(
            target=self._read, args=(link,), name="sequencer-receipts", daemon=True
        ).start()
        return link

    def _read(self, link: _Link) -> None:
        try:
            for rows in frames(link.sock):
                for row in rows:
                    with link.lock:
                        future = link.pending.pop(row[0], None)
                    if future is not None and resolve(future, row):
                        self.count_appended()
        except (OSError, ValueError) as exc:
            if not link.broken:
                log.warning("the connection to the sequencer broke: %s", exc)
        self._break(link)

    def _break(self, link: _Link) -> None:
        """Close ``link``; what it still waits for is answered SequencerLost."""
        with link.lock:
            was_broken, link.broken = link.broken, True
            lost, link.pending = link.pending, {}
        if self._link is link:
            self._link = None
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
        if not was_broken:
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)
            link.sock.close()
        for future in lost.values():
            future.set_exception(SequencerLost(LOST))


# -- the sequencer's side --------------------------------------------------------------


class SequencerServer:
    """Takes the entries of every worker connected to ``path`` into ``service``, and
    answers each with its outcome once its batch is committed."""

    def __init__(self, service: AppendService, path: Path) -> None:
        self.service = service
        self.path = path
        path.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mask = os.umask(0o177)  # the socket is its user's only (its folder is too)
        try:
            self.listener.bind(str(path))
        finally:
            os.umask(mask)
        self.listener.listen(64)
        self._thread = threading.Thread(target=self._accept, name="sequencer-accept", daemon=True)
        self._replies: list[queue.SimpleQueue[Any]] = []
        self._connections: list[socket.socket] = []

    def start(self) -> SequencerServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Take no more connections (those made go on until the service is closed)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.path.unlink(missing_ok=True)

    def drop_connections(self) -> None:
        """Cut every worker off, as this process's death would."""
        for sock in self._connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait (a while) until every answer queued is taken to be sent: after the service
        closed, so that the workers still connected get the receipts of its last batch."""
        deadline = time.monotonic() + timeout
        while any(not q.empty() for q in self._replies) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # the last send

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            replies: queue.SimpleQueue[tuple[int, Future[Receipt]] | object] = queue.SimpleQueue()
            self._replies.append(replies)
            self._connections.append(sock)
            threading.Thread(
                target=self._take, args=(sock, replies), name="sequencer-entries", daemon=True
            ).start()
            threading.Thread(
                target=self._answer, args=(sock, replies), name="sequencer-answers", daemon=True
            ).start()

    def _take(self, sock: socket.socket, replies: queue.SimpleQueue[Any]) -> None:
        try:
            for rows in frames(sock):
                for row in rows:
                    self._submit(row, replies)
        except (OSError, ValueError) as exc:
            log.warning("a worker's connection to the sequencer broke: %s", exc)
        replies.put(_END)

    def _submit(self, row: Row, replies: queue.SimpleQueue[Any]) -> None:
        number = row[0]
        future: Future[Receipt]
        try:
            future = self.service.submit(entry_of(row))
        except Exception as exc:  # refused before it was queued: a closed service, a bad field
            future = Future()
            future.set_exception(exc)
        future.add_done_callback(lambda done: replies.put((number, done)))

    @staticmethod
    def _answer(sock: socket.socket, replies: queue.SimpleQueue[Any]) -> None:
        with sock:
            while True:
                item = replies.get()
                rows: list[Row] = []
                while item is not _END:
                    rows.append(outcome_row(*item))
                    try:
                        item = replies.get_nowait()
                    except queue.Empty:
                        break
                if rows:
                    try:
                        sock.sendall(frame(rows))
                    except OSError:
                        return  # the worker is gone; its entries are committed all the same
                if item is _END:
                    return


def until_told_or_orphaned(parent: int) -> None:
    """Wait until standard input closes (the server is done with its workers) or the
    server process is gone: a killed server's workers, forked from it, still hold the
    pipe open, so its death is seen as this process's new parent."""
    told = threading.Event()

    def read() -> None:
        sys.stdin.read()
        told.set()

    threading.Thread(target=read, name="sequencer-stdin", daemon=True).start()
    while not told.wait(ORPHAN_POLL_SECONDS) and os.getppid() == parent:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """The sequencer process: ``python -m lookup_api.shared_sequencer SOCKET [FORMAT LEVEL]``.

    It serves until its standard input closes (``credtrace serve`` closes it after its
    workers stopped) or the server dies, then commits what it took and exits. SIGINT and SIGTERM
    sent to the whole process group are left to the server: the workers may still be
    finishing their requests.
    """
    import logging.config

    from lookup_api.logs import log_config
    from lookup_api.metrics import Metrics, SharedMetrics
    from lookup_api.settings import Settings
    from lookup_api.wiring import open_ledger

    parent = os.getppid()
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0])
    log_format, level = (args[1], args[2]) if len(args) >= 3 else ("json", "info")
    logging.config.dictConfig(log_config(log_format, access=False, level=level))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.pop(SOCKET_ENV, None)
    settings = Settings.from_env()
    ledger = open_ledger(settings)
    service = AppendService(ledger, max_batch=settings.max_append_batch).start()
    metrics = SharedMetrics(Metrics(), settings.metrics_dir)
    service.on_batch = metrics.metrics.observe_batch
    metrics.start()
    server = SequencerServer(service, path).start()  # ready once it accepts connections
    until_told_or_orphaned(parent)
    server.close()
    service.close()
    server.drain()
    metrics.stop()
    metrics.write()
    ledger.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
