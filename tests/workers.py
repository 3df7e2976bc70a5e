"""Subprocess workers for the crash and concurrency tests (run as ``python -m tests.workers``)."""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Generator, Iterator

from ledger.store.engine import create_db_engine, migrate
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.store.service import AppendService
from ledger.tlog.checkpoint import TlogProof
from ledger.tlog.jcs import canonicalize
from ledger.tlog.note import Signer
from lookup_api.bulk.importer import file_chunks
from lookup_api.bulk.pipeline import CHUNK, Chunk, Pipeline

ORIGIN = "test.credtrace.local/ledger"


def _ledger(url: str, key: str) -> Ledger:
    engine = create_db_engine(url)
    migrate(engine)
    return Ledger(engine, Signer.parse(key), ORIGIN)


def bulk(url: str, key: str, count: int, batch: int) -> None:
    """Append ``count`` entries; print ACK <last index> after every committed batch."""
    ledger = _ledger(url, key)
    start = ledger.size()
    entries = (
        NewEntry(
            "test.bulk",
            "test:crash",
            canonicalize({"n": start + i, "pad": "x" * 180}),
            "system:test",
        )
        for i in range(count)
    )
    for result in ledger.append_bulk(entries, batch_size=batch):
        print(f"ACK {result.first_index + len(result.leaf_hashes) - 1}", flush=True)


def writer(url: str, key: str, writer_id: int, count: int, threads: int) -> None:
    """``count`` single appends through the append service from ``threads`` threads,
    once started: print READY when set up, then wait for a line on standard input (so that
    every writer's appends overlap, however slowly the processes start)."""
    ledger = _ledger(url, key)
    service = AppendService(ledger).start()
    failures: list[BaseException] = []
    print("READY", flush=True)
    if sys.stdin.readline() != "GO\n":
        raise SystemExit("writer: expected GO on standard input")

    def run(thread: int) -> None:
        try:
            for seq in range(thread, count, threads):
                payload = canonicalize({"writer": writer_id, "seq": seq})
                receipt = service.append(
                    NewEntry("test.concurrent", f"writer:{writer_id}", payload, "system:test")
                )
                TlogProof.parse(receipt.tlog_proof).verify(
                    receipt.leaf_hash, ledger.verifier, ORIGIN
                )
        except BaseException as exc:  # reported to the parent below
            failures.append(exc)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    service.close()
    if failures:
        print(f"FAILED {failures[0]!r}", flush=True)
        sys.exit(1)
    print(f"DONE {service.appended} in {service.batches} batches", flush=True)


def endless_chunks() -> Iterator[Chunk]:
    """A producer that never ends: its worker fills the queue and then waits in put."""
    line = 0
    while True:
        line += 1
        yield Chunk([], [(line, None, "x" * 100, None)])


def collector_state() -> Generator[Chunk, None, bool]:
    """A producer that yields one empty chunk and returns whether its process collects
    cycles."""
    yield Chunk([], [])
    return gc.isenabled()


def _another_thread() -> None:
    threading.Thread(target=threading.Event().wait, daemon=True).start()


def pipeline_report(path: str, with_thread: bool) -> None:
    """Print, as JSON, how this process's pipelines run: their start method, whether the
    worker collects cycles, and the chunks of the import file ``path``."""
    if with_thread:
        _another_thread()
    probe = Pipeline(collector_state)
    list(probe)
    job = Pipeline(file_chunks, path, "operator:test", None)
    chunks = [(c.entries, c.refusals) for c in job]
    report = {"method": probe.start_method, "collects": probe.result, "chunks": repr(chunks)}
    print(json.dumps(report), flush=True)


def stalled_pipeline(with_thread: bool) -> None:
    """Take one chunk, print the worker's pid and how it was started, then stop reading
    (until killed); ``with_thread``: with a second thread running, as a service has."""
    if with_thread:
        _another_thread()
    pipeline = Pipeline(endless_chunks, ahead=2 * CHUNK)
    chunks = iter(pipeline)
    next(chunks)
    print(f"WORKER {pipeline.worker_pid} {pipeline.start_method}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    if sys.argv[1] == "pipeline-report":
        pipeline_report(sys.argv[2], with_thread=sys.argv[3:] == ["--with-thread"])
        sys.exit(0)
    if sys.argv[1] == "stalled-pipeline":
        stalled_pipeline(with_thread=sys.argv[2:] == ["--with-thread"])
        sys.exit(0)
    command, url, key, *rest = sys.argv[1:]
    if command == "bulk":
        bulk(url, key, int(rest[0]), int(rest[1]))
    elif command == "writer":
        writer(url, key, int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        raise SystemExit(f"unknown worker {command}")
