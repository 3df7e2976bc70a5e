"""Credit benchmarks: `scripts/bench credit [options]`; medians of several runs.

- ``engine``: the pure grading function on two fact mixes (``clean``: a filed enterprise
  with inspections and a grade history; ``dishonest``: violations of every severity,
  failed inspections, a repair and a listing), gradings per second;
- ``recompute``: ``credit recompute`` of a seeded register (the seed generator's mix,
  about 31 records per enterprise), enterprises per second;
- ``append``: one new violation appended at a time, with and without the regrading in
  the transaction: p50 and p99 latency;
- ``decision``: inspection decisions of declared batches, p50 and p99;
- ``import``: ``import_records`` of the seed, sanctions and filings mixes with grading on
  and off, records per second of wall-clock time and per CPU second of the sequencing
  process (the parse worker runs beside it): on a machine whose cores other work shares,
  the second figure is what the code costs, the first also what the machine had to spare.

Everything runs in this process on a fresh SQLite file per run (``--pg URL`` adds
PostgreSQL for recompute, append and import).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_import import write_records
from benchdb import fresh_database
from sqlalchemy import Connection, select

from credit.catalogue import violation_item_check
from credit.decisions import decide_batch
from credit.engine import grade
from credit.facts import BlacklistEvent, Facts, GradeRecord, Inspection, Repair, Violation
from credit.policy import load_policy
from credit.recompute import recompute, regrader_of
from credit.regrade import credit_hooks
from ledger.records.entry import record_entry
from ledger.records.projector import Projector
from ledger.records.tables import LIVE
from ledger.store.clock import historical_range
from ledger.store.engine import create_db_engine, migrate, read_transaction
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from lookup_api.auth import migrate as migrate_app
from lookup_api.bulk.importer import import_records
from lookup_api.bulk.seed import SEED_ANCHOR, seed_ledger

ORIGIN = "bench.credtrace.local/ledger"
POLICY = load_policy()
AS_OF = dt.date(2026, 6, 30)
ITEMS = sorted(POLICY.items)


def _days_ago(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def clean_facts(n: int, rng: random.Random) -> Facts:
    inspections = tuple(
        Inspection(100 + i, f"b{i}", "conformant", _days_ago(rng.randrange(365))) for i in range(20)
    )
    return Facts(
        f"E{n}",
        _days_ago(2000),
        0,
        ("importer",),
        inspections=inspections,
        grades=(GradeRecord(1, "A", POLICY.id, _days_ago(800)),),
    )


def dishonest_facts(n: int, rng: random.Random) -> Facts:
    violations = tuple(
        Violation(200 + i, rng.choice(ITEMS), _days_ago(rng.randrange(1200)), 10_000)
        for i in range(10)
    )
    inspections = tuple(
        Inspection(
            100 + i,
            f"b{i}",
            "non_conformant" if i % 7 == 0 else "conformant",
            _days_ago(rng.randrange(400)),
        )
        for i in range(50)
    )
    return Facts(
        f"E{n}",
        _days_ago(1500),
        0,
        ("importer",),
        violations=violations,
        inspections=inspections,
        blacklist=(
            BlacklistEvent(300, "noticed", _days_ago(90)),
            BlacklistEvent(301, "listed", _days_ago(50)),
        ),
        repairs=(Repair(302, 303, True),),
        grades=(
            GradeRecord(1, "A", POLICY.id, _days_ago(800)),
            GradeRecord(2, "D", POLICY.id, _days_ago(50)),
        ),
    )


def median_of(label: str, runs: list[float], unit: str) -> None:
    shown = ", ".join(f"{r:,.0f}" for r in runs)
    print(f"  {label}: median {statistics.median(runs):,.0f} {unit} (runs: {shown})", flush=True)


def percentiles(label: str, samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(f"    {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(samples):,}", flush=True)
    return p50, p99


def bench_engine(count: int, runs: int) -> None:
    for name, make in (("clean", clean_facts), ("dishonest", dishonest_facts)):
        rng = random.Random(7)
        facts = [make(n, rng) for n in range(count)]
        rates = []
        for _ in range(runs):
            started = time.perf_counter()
            for f in facts:
                grade(f, POLICY, AS_OF)
            rates.append(count / (time.perf_counter() - started))
        median_of(f"engine, {name} mix, {count:,} enterprises", rates, "gradings/s")


@contextmanager
def seeded(kind: str, pg: str | None, enterprises: int) -> Iterator[tuple[Ledger, float]]:
    """A fresh database holding a graded seed of ``enterprises``, and the seconds it took."""
    with (
        tempfile.TemporaryDirectory(prefix="credtrace-credit-") as tmp,
        fresh_database(kind, pg, Path(tmp)) as url,
    ):
        engine = create_db_engine(url)
        migrate(engine)
        migrate_app(engine)
        ledger = Ledger(engine, Signer.generate(ORIGIN), ORIGIN, hooks=credit_hooks())
        started = time.perf_counter()
        seed_ledger(ledger, enterprises, seed=11)
        took = time.perf_counter() - started
        try:
            yield ledger, took
        finally:
            engine.dispose()


def bench_recompute(kind: str, pg: str | None, enterprises: int, runs: int) -> None:
    print(f"recompute of {enterprises:,} seeded enterprises, {kind}", flush=True)
    rates = []
    with seeded(kind, pg, enterprises) as (seeded_ledger, took):
        facts = seeded_ledger.size()
        print(f"    seeded {facts:,} entries with grading on in {took:.1f} s", flush=True)
        for run in range(runs):
            # A ledger opened afresh, as `credtrace credit recompute` does: its regrader
            # knows nothing of the gradings the seeding (or the run before) did.
            ledger = Ledger(seeded_ledger.engine, seeded_ledger.signer, ORIGIN, credit_hooks())
            started = time.perf_counter()
            report = recompute(ledger)
            elapsed = time.perf_counter() - started
            rates.append(report.enterprises / elapsed)
            print(
                f"    run {run + 1}: {elapsed:.1f} s, {report.changed:,} grades changed",
                flush=True,
            )
    median_of("recompute", rates, "enterprises/s")


def bench_append(kind: str, pg: str | None, enterprises: int, appends: int) -> None:
    print(f"one new violation per append, {appends:,} appends, {kind}", flush=True)
    with seeded(kind, pg, enterprises) as (ledger, _):
        with read_transaction(ledger.engine) as conn:
            ent = LIVE["proj_enterprises"]
            usccs = [u for (u,) in conn.execute(select(ent.c.uscc).where(ent.c.status == "active"))]
        rng = random.Random(3)
        graded_hooks = ledger.hooks
        plain_hooks = [Projector(violation_item_check())]
        regrader = regrader_of(ledger)
        inside: list[float] = []
        more, clock = regrader.more, time.perf_counter

        def timed_more(conn: Connection, size: int, time: str) -> Sequence[NewEntry]:
            started = clock()
            try:
                return more(conn, size, time)
            finally:
                inside.append(clock() - started)

        regrader.more = timed_more  # type: ignore[method-assign]
        for label, hooks in (("without regrading", plain_hooks), ("with regrading", graded_hooks)):
            ledger.hooks = hooks
            samples = []
            for n in range(appends):
                payload = {
                    "uscc": rng.choice(usccs),
                    "item": "ciq.declaration-error",
                    "occurred_on": SEED_ANCHOR.isoformat(),
                    "case_no": f"BENCH-{label[:4]}-{n}",
                }
                entry = record_entry("violation.recorded", payload, "officer:bench")
                started = time.perf_counter()
                result = ledger.append([entry])
                samples.append(time.perf_counter() - started)
                assert not result.rejected, result.rejected
            percentiles(label, samples)
        percentiles("the regrade step alone (facts, grading, entry)", inside)


def bench_decision(enterprises: int, count: int) -> None:
    print(f"inspection decisions of {count:,} declared batches, sqlite", flush=True)
    with seeded("sqlite", None, enterprises) as (ledger, _):
        with read_transaction(ledger.engine) as conn:
            bat = LIVE["proj_batches"]
            batches = list(conn.execute(select(bat.c.gtin, bat.c.batch).limit(count)))
        samples = []
        decisions: dict[str, int] = {}
        with read_transaction(ledger.engine) as conn:
            for gtin, batch in batches:
                started = time.perf_counter()
                found = decide_batch(conn, ledger, POLICY, gtin, batch)
                samples.append(time.perf_counter() - started)
                decisions[found.decision] = decisions.get(found.decision, 0) + 1
        percentiles(f"decision ({decisions})", samples)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_import(kind: str, pg: str | None, records: int, runs: int, mixes: list[str]) -> None:
    history = historical_range(f"2000-01-01..{SEED_ANCHOR.isoformat()}")
    hook_sets: dict[str, Callable[[], list[Any]]] = {
        "grading off": lambda: [Projector(violation_item_check())],
        "grading on": credit_hooks,
    }
    for mix in mixes:
        with tempfile.TemporaryDirectory(prefix="credtrace-credit-import-") as tmp:
            path = Path(tmp) / "records.jsonl"
            written = write_records(path, mix, records)
            print(f"import of {written:,} records of the {mix} mix, {kind}", flush=True)
            for label, hooks in hook_sets.items():
                rates, cpu_rates = [], []
                for run in range(runs):
                    workdir = Path(tmp) / f"{label[-3:]}{run}"
                    workdir.mkdir()
                    with fresh_database(kind, pg, workdir) as url:
                        engine = create_db_engine(url)
                        migrate(engine)
                        ledger = Ledger(engine, Signer.generate(ORIGIN), ORIGIN, hooks=hooks())
                        started, cpu, worker = (
                            time.perf_counter(),
                            time.process_time(),
                            _children_cpu(),
                        )
                        report = import_records(ledger, path, actor=None, historical=history)
                        elapsed = time.perf_counter() - started
                        cpu, worker = time.process_time() - cpu, _children_cpu() - worker
                        engine.dispose()
                    assert report.imported == written, report.as_json()
                    rates.append(written / elapsed)
                    cpu_rates.append(written / cpu)
                    print(
                        f"    {label}, run {run + 1}: {written / elapsed:,.0f} records/s, "
                        f"{written / cpu:,.0f} per CPU second ({cpu:.1f} s, the parse worker "
                        f"{worker:.1f} s), {report.graded:,} grades changed",
                        flush=True,
                    )
                median_of(f"import, {mix} mix, {label}", rates, "records/s")
                median_of(f"import, {mix} mix, {label}, CPU", cpu_rates, "records/CPU s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg", default=os.environ.get("CREDTRACE_BENCH_DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enterprises", type=int, default=10_000, help="seeded register size")
    parser.add_argument("--gradings", type=int, default=20_000, help="engine gradings per run")
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--decisions", type=int, default=2_000)
    parser.add_argument("--records", type=int, default=200_000, help="import file size")
    parts = ["engine", "recompute", "append", "decision", "import"]
    parser.add_argument("--only", choices=parts, action="append", help="default: all")
    mixes = ["seed", "sanctions", "filings"]
    parser.add_argument("--mix", choices=mixes, action="append", help="import mixes (all)")
    args = parser.parse_args()
    only = args.only or parts
    kinds = [("sqlite", None)] + ([("postgres", args.pg)] if args.pg else [])
    if "engine" in only:
        bench_engine(args.gradings, args.runs)
    for kind, pg in kinds:
        if "recompute" in only:
            bench_recompute(kind, pg, args.enterprises, args.runs)
        if "append" in only:
            bench_append(kind, pg, args.enterprises, args.appends)
    if "decision" in only:
        bench_decision(args.enterprises, args.decisions)
    for kind, pg in kinds:
        if "import" in only:
            bench_import(kind, pg, args.records, args.runs, args.mix or mixes)


if __name__ == "__main__":
    main()
