"""Bulk pipelines: one process parses and validates, this one sequences and projects.

The pipeline knows no job: each (import, seed) passes the producer of its chunks.

The sequencer (hash chain, tree, projections) is inherently serial; parsing and
schema validation are not. A worker process does the latter and hands over
ready entries in chunks through a bounded queue, so both cores work and memory
stays flat however long the input is.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import msgspec

from ledger.records.json_input import JsonInputError, loads
from ledger.records.kinds import RecordError, parse_record, record_date
from ledger.store.entries import NewEntry, trusted_entry
from ledger.tlog.envelope import REDACTION_KIND, EnvelopeError, check_time, json_label, now_time

CHUNK = 2_000
PIPE_BYTES = 1 << 20
AHEAD = 16_000
# Records per transaction of the bulk jobs (import, seed): each commit rewrites every page
# its randomly keyed rows touch, so fewer, larger commits cost less.

# Bytes of one import line, newline included: far above any record (a payload's longest
# list, 10,000 serials, is about 300 KB), far below what could exhaust memory.
MAX_LINE = 1 << 20
QUOTE_LIMIT = 40  # characters of a refused line its report quotes back

# line, kind, subject, payload, actor, time, subject as a JSON string
Prepared = tuple[int, str, str, bytes, str, str | None, bytes]
Refusal = tuple[int, str | None, str, str | None]  # line, field, reason, its quoted start


@dataclass
class Chunk:
    entries: list[Prepared]
    refusals: list[Refusal]
    bytes_read: int = 0


class PipelineError(RuntimeError):
    """The worker process failed; the message carries its traceback."""


def quoted_start(line: bytes, limit: int = QUOTE_LIMIT) -> str:
    """The start of a refused line, quoted: at most ``limit`` characters of it."""
    text = line[: limit * 4].decode("utf-8", errors="replace").rstrip("\r\n")
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}…"


def _quote(line: bytes | None) -> str | None:
    return None if line is None else quoted_start(line)


def prepare(  # noqa: PLR0917 - one record's fields, as they come
    line_no: int,
    kind: str,
    payload: Any,
    actor: str,
    time: str | None,
    chunk: Chunk,
    line: bytes | None = None,
) -> None:
    """Validate one record (payload as a dict or as raw JSON) into a ready entry or a refusal;
    a refusal quotes the start of ``line``, the record's source, if given."""
    try:
        if time is not None:
            check_time(time)
        parsed = parse_record(kind, payload, today=record_date(time or now_time()))
    except RecordError as exc:
        chunk.refusals.append((line_no, exc.field, exc.reason, _quote(line)))
        return
    except EnvelopeError as exc:
        chunk.refusals.append((line_no, "time", str(exc), _quote(line)))
        return
    if kind == REDACTION_KIND:  # a redaction names its target: it goes through the API
        chunk.refusals.append(
            (line_no, "kind", f"{REDACTION_KIND} cannot be imported; use the API", _quote(line))
        )
        return
    chunk.entries.append(
        (line_no, kind, parsed.subject, parsed.payload, actor, time, json_label(parsed.subject))
    )


class ImportLine(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    payload: dict[str, Any]
    time: str | None = None


TimeRange = tuple[str, str]  # first and last entry time of a historical import


def _time_refusal(time: str | None, times: TimeRange | None) -> str | None:
    """Why a line's own ``time`` is refused given the import's historical range, or None."""
    if times is None:
        if time is None:
            return None
        return (
            "a line's own time is taken only by a historical import (--historical FROM..TO); "
            "without it the ledger stamps each entry with its own clock"
        )
    if time is None:
        return f"a historical import ({times[0]}..{times[1]}) gives every line its time"
    try:
        check_time(time)
    except EnvelopeError as exc:
        return str(exc)
    if not times[0] <= time <= times[1]:
        return f"time {time} is outside the historical range {times[0]}..{times[1]}"
    return None


def parse_line(
    line_no: int, line: bytes, actor: str, chunk: Chunk, times: TimeRange | None = None
) -> None:
    """One import line: ``{"kind", "payload"[, "time"]}``; refusals name the line and field.

    The line is read by the API's strict reader (json_input): bounded depth and string
    length, duplicate keys refused at every level. A line gives its time only in a
    historical import, and then within its range ``times``.
    """
    try:
        item = msgspec.convert(loads(line), ImportLine)
    except JsonInputError as exc:
        chunk.refusals.append((line_no, None, str(exc), quoted_start(line)))
        return
    except msgspec.ValidationError as exc:
        message = str(exc)
        reason, _, where = message.partition(" - at ")
        # "Expected `object`, got `array` - at `$.payload`", "Object missing required field
        # `kind`", "Object contains unknown field `extra`", "Expected `object`, got `array`"
        named = where or (reason if "field `" in reason else "")
        field = named.split("`")[1].removeprefix("$").removeprefix(".") if named else None
        if field == "payload" and reason.startswith("Expected `object`"):
            reason = "payload must be a JSON object"
        chunk.refusals.append((line_no, field, reason, quoted_start(line)))
        return
    why = _time_refusal(item.time, times)
    if why is not None:
        chunk.refusals.append((line_no, "time", why, quoted_start(line)))
        return
    prepare(line_no, item.kind, item.payload, actor, item.time, chunk, line)


Producer = Callable[..., Iterator[Chunk]]
"""Yields a job's chunks in order (a generator may return a summary); a module-level
function, since it is pickled by name to run in the worker process."""


PARENT_CHECK_SECONDS = 1.0  # how often a worker blocked on a full queue looks for its parent
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ParentGone(Exception):
    """The process that started the worker has died: nobody will read what it makes."""


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (SIGKILL included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _hand_over(out: Any, item: tuple[str, Any]) -> None:
    """Put ``item`` on the queue, giving up if the parent dies while the queue is full."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            out.put(item, timeout=PARENT_CHECK_SECONDS)
            return
        except queue_module.Full:
            if parent is not None and not parent.is_alive():
                raise ParentGone from None


def _worker(out: Any, producer: Producer, args: tuple[Any, ...]) -> None:
    _die_with_parent()
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():  # died before prctl took effect
        os._exit(1)
    try:
        chunks = producer(*args)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration as done:
                _hand_over(out, ("done", done.value))
                return
            # Pickled here, ahead of time: the queue's feeder thread would only pickle
            # each chunk when the previous one has been taken.
            _hand_over(out, ("chunk", pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)))
    except ParentGone:
        # The feeder thread may be stuck writing to a pipe nobody reads: do not wait for it.
        out.cancel_join_thread()
        os._exit(1)
    except BaseException:  # report every failure to the parent, then stop
        _hand_over(out, ("error", traceback.format_exc()))


def _widen_pipe(fd: int) -> None:
    """Let a whole chunk fit in the pipe (Linux): with the default 64 KiB a chunk takes
    a dozen sleep-and-wake round trips between the two processes, each one slow on a VM."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):  # above fs.pipe-max-size: the default still works
        fcntl.fcntl(fd, set_size, PIPE_BYTES)


def start_method() -> str:
    """How to start the worker: ``fork`` while this process runs no other thread, else
    ``spawn``.

    A forked worker starts at once; a spawned one is a fresh interpreter importing the
    packages (and the main module) anew, about a second in which the sequencer has nothing
    to do. A fork copies the locks other threads may hold, so it is taken only when there
    are none. What else the copy inherits (open database connections, sockets) the worker
    never uses: it runs the producer only, with the collector off (``Pipeline.start``), so
    no inherited object is finalised in it, and it leaves by ``os._exit``.
    """
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


class Pipeline:
    """Runs ``producer(*args)`` in a worker process; iterate to get its chunks in order,
    then ``result`` holds what it returned."""

    def __init__(self, producer: Producer, *args: Any, ahead: int = AHEAD) -> None:
        """``ahead``: how many entries the worker may have ready; the sequencer's batch
        size and a margin, so that the worker keeps working while a batch is written."""
        self.start_method = start_method()
        context: Any = multiprocessing.get_context(self.start_method)
        queue: Any = context.Queue(max(2, -(-ahead // CHUNK)))
        _widen_pipe(queue._writer.fileno())  # the queue's pipe (private, but stable since 3.4)
        self._queue = queue
        self._process: BaseProcess = context.Process(
            target=_worker, args=(self._queue, producer, args), daemon=True
        )
        self.result: Any = None

    @property
    def worker_pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        """Start the worker (iterating starts it too); it reads ahead while nobody takes."""
        if self._process.pid is None:
            # A forked worker keeps the collector off: a collection there could finalise a
            # copy of one of this process's objects, such as an open SQLite connection
            # (whose close may checkpoint and delete the write-ahead log under this
            # process). Nothing the producers make forms cycles (see collector_paused).
            with collector_paused():
                self._process.start()

    def stop(self) -> None:
        """Stop the worker if it still runs, and wait for it."""
        if self._process.pid is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(10)

    def __iter__(self) -> Iterator[Chunk]:
        self.start()
        try:
            while True:
                try:
                    tag, value = self._queue.get(timeout=5)
                except queue_module.Empty:
                    if not self._process.is_alive():
                        raise PipelineError("the worker process died") from None
                    continue
                if tag == "chunk":
                    yield pickle.loads(value)  # noqa: S301 - our own worker's chunk
                elif tag == "done":
                    self.result = value
                    return
                else:
                    raise PipelineError(f"the worker process failed:\n{value}")
        finally:
            self.stop()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk job.

    A bulk job allocates millions of short-lived objects that form no cycles, and
    the collector's passes over them (and over the long-lived row cache) cost about
    a tenth of the run. Reference counting still frees everything as it goes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def entries_of(chunk: Chunk) -> list[tuple[int, NewEntry]]:
    actors: dict[str, bytes] = {}
    out = []
    for line, kind, subject, payload, actor, time, subject_json in chunk.entries:
        actor_json = actors.get(actor) or actors.setdefault(actor, json_label(actor))
        entry = trusted_entry(kind, subject, payload, actor, time, subject_json, actor_json)
        out.append((line, entry))
    return out


def batched(
    chunks: Iterator[Chunk], size: int, on_chunk: Callable[[Chunk], None]
) -> Iterator[list[tuple[int, NewEntry]]]:
    """Regroup the worker's chunks into batches of ``size`` entries.

    A large first batch is cut to a fifth, so that sequencing starts while the worker
    is still filling its read-ahead.
    """
    batch: list[tuple[int, NewEntry]] = []
    want = size // 5 if size >= 10 * CHUNK else size
    for chunk in chunks:
        on_chunk(chunk)
        batch.extend(entries_of(chunk))
        while len(batch) >= want:
            yield batch[:want]
            batch = batch[want:]
            want = size
    if batch:
        yield batch
