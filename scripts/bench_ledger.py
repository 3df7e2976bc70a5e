"""Ledger benchmarks: bulk append, group commit, proof latency curve, verify.

Run ``scripts/bench ledger``; ``--pg URL`` adds PostgreSQL. Figures are medians of
``--runs`` runs; the machine is shared and noisy, so each run is printed too.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchdb import fresh_database

from ledger.store.dbverify import verify_database
from ledger.store.engine import create_db_engine, migrate
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.store.service import AppendService
from ledger.tlog.jcs import canonicalize
from ledger.tlog.note import Signer

ORIGIN = "bench.credtrace.local/ledger"
PAYLOAD_BYTES = 200


def payloads(count: int, start: int = 0) -> Iterator[NewEntry]:
    pad = "x" * (PAYLOAD_BYTES - 60)
    for i in range(start, start + count):
        body = canonicalize(
            {"case_no": f"BENCH-{i:010d}", "item": "ciq.declaration-error", "pad": pad}
        )
        yield NewEntry("violation.recorded", "uscc:91440300MA5F0000XB", body, "system:bench")


@contextmanager
def database(kind: str, pg_url: str | None) -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory(prefix="credtrace-bench-") as tmp,
        fresh_database(kind, pg_url, Path(tmp)) as url,
    ):
        yield url


def open_ledger(url: str, signer: Signer) -> Ledger:
    engine = create_db_engine(url)
    migrate(engine)
    return Ledger(engine, signer, ORIGIN)


def median_of(label: str, runs: int, once: Callable[[], float], unit: str) -> float:
    values = []
    for run in range(runs):
        value = once()
        values.append(value)
        print(f"    run {run + 1}: {value:,.0f} {unit}", flush=True)
    result = statistics.median(values)
    print(f"  {label}: median {result:,.0f} {unit}", flush=True)
    return result


def bench_bulk(kind: str, pg_url: str | None, count: int, runs: int, batch: int) -> None:
    print(
        f"bulk append, {count:,} entries of {PAYLOAD_BYTES}-byte payloads, {kind}, batch {batch:,}"
    )
    signer = Signer.generate(ORIGIN)

    def once() -> float:
        with database(kind, pg_url) as url:
            ledger = open_ledger(url, signer)
            entries = list(payloads(count))
            started = time.perf_counter()
            for _ in ledger.append_bulk(entries, batch_size=batch):
                pass
            elapsed = time.perf_counter() - started
            assert ledger.size() == count
            ledger.engine.dispose()
            return count / elapsed

    median_of("bulk append", runs, once, "entries/s")


def _group_commit_run(
    url: str, signer: Signer, clients: int, seconds: float
) -> tuple[float, float, float, int]:
    ledger = open_ledger(url, signer)
    service = AppendService(ledger).start()
    service.append(next(payloads(1)))
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(n: int) -> None:
        mine = []
        i = 0
        while time.perf_counter() < stop:
            entry = next(payloads(1, n * 1_000_000 + i))
            t0 = time.perf_counter()
            receipt = service.append(entry)
            mine.append(time.perf_counter() - t0)
            assert receipt.audit_path is not None
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    service.close()
    ledger.engine.dispose()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return len(latencies) / elapsed, p50, p99, service.batches


def bench_group_commit(
    kind: str, pg_url: str | None, clients: int, seconds: float, runs: int
) -> None:
    print(f"single appends from {clients} concurrent clients through the append service, {kind}")
    signer = Signer.generate(ORIGIN)
    rates, p50s, p99s = [], [], []
    for run in range(runs):
        with database(kind, pg_url) as url:
            rate, p50, p99, batches = _group_commit_run(url, signer, clients, seconds)
        rates.append(rate)
        p50s.append(p50)
        p99s.append(p99)
        print(
            f"    run {run + 1}: {rate:,.0f} entries/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"{batches} transactions",
            flush=True,
        )
    print(
        f"  group commit: median {statistics.median(rates):,.0f} entries/s, "
        f"p50 {statistics.median(p50s):.1f} ms, p99 {statistics.median(p99s):.1f} ms",
        flush=True,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def bench_proofs(kind: str, pg_url: str | None, sizes: list[int], queries: int) -> None:
    print(f"proof latency curve, {kind} ({queries} random proofs per size; fresh process cache)")
    signer = Signer.generate(ORIGIN)
    rng = random.Random(1)
    with database(kind, pg_url) as url:
        ledger = open_ledger(url, signer)
        size = 0
        print(
            f"  {'size':>12} {'incl p50':>9} {'incl p99':>9} {'cons p50':>9} {'cons p99':>9}  (ms)"
        )
        for target in sizes:
            for _ in ledger.append_bulk(payloads(target - size, size), batch_size=50_000):
                pass
            size = target
            reader = Ledger(ledger.engine, signer, ORIGIN)  # cold tile cache
            inclusion, consistency = [], []
            for _ in range(queries):
                index = rng.randrange(size)
                t0 = time.perf_counter()
                reader.inclusion_proof(index, size)
                inclusion.append((time.perf_counter() - t0) * 1000)
                first = rng.randint(1, size - 1)
                t0 = time.perf_counter()
                reader.consistency_proof(first, size)
                consistency.append((time.perf_counter() - t0) * 1000)
            print(
                f"  {size:>12,} {percentile(inclusion, 0.5):9.3f} "
                f"{percentile(inclusion, 0.99):9.3f} "
                f"{percentile(consistency, 0.5):9.3f} {percentile(consistency, 0.99):9.3f}",
                flush=True,
            )
        ledger.engine.dispose()


def bench_verify(kind: str, pg_url: str | None, count: int, runs: int) -> None:
    print(f"ledger verify of {count:,} entries, {kind}")
    signer = Signer.generate(ORIGIN)
    with database(kind, pg_url) as url:
        ledger = open_ledger(url, signer)
        for _ in ledger.append_bulk(payloads(count), batch_size=50_000):
            pass

        def once() -> float:
            report = verify_database(ledger.engine, signer.verifier, ORIGIN)
            assert report.size == count
            return report.size / report.seconds

        median_of("verify", runs, once, "entries/s")
        ledger.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--pg",
        default=os.environ.get("CREDTRACE_BENCH_DATABASE_URL"),
        help="PostgreSQL URL to benchmark too",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bulk", type=int, default=1_000_000, help="entries per bulk run (SQLite)")
    parser.add_argument(
        "--bulk-pg", type=int, default=300_000, help="entries per bulk run (PostgreSQL)"
    )
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--proof-sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--verify", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["bulk", "group", "proofs", "verify"], action="append")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if args.pg else [])
    only = set(args.only or ["bulk", "group", "proofs", "verify"])
    for kind in kinds:
        if "bulk" in only:
            bench_bulk(
                kind,
                args.pg,
                args.bulk if kind == "sqlite" else args.bulk_pg,
                args.runs,
                args.batch,
            )
        if "group" in only:
            bench_group_commit(kind, args.pg, args.clients, args.seconds, args.runs)
        if "verify" in only and kind == "sqlite":
            bench_verify(kind, args.pg, args.verify, args.runs)
        if "proofs" in only and kind == "sqlite":
            sizes = [int(s) for s in args.proof_sizes.split(",")]
            bench_proofs(kind, args.pg, sizes, args.queries)


if __name__ == "__main__":
    main()
