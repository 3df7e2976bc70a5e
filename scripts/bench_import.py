"""Import and seed benchmarks: `credtrace import` of several record mixes, `credtrace seed`.

Each mix is its own file, imported into a fresh database per run, with its own
records/s median (``--mix`` picks some; ``--records`` sizes each file):

- ``seed``: the seed generator's stream (mostly batches and inspections);
- ``filings``: a register migration, one ``enterprise.filed`` and one ``product.filed``
  per enterprise;
- ``sanctions``: violations, yellow cards and interviews against a filed register;
- ``complaints``: complaints and recalls (with their verifications and closures) against
  filed products and declared batches.

The filings a mix refers to are written first and counted in its figure. Each run
is printed. Peak memory is the largest resident set of the import process and its worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchdb import fresh_database

from ledger.records.ids import gtin_check_digit
from lookup_api.bulk.seed import SEED_ANCHOR, Generator

RECORDS_PER_ENTERPRISE = 31.5  # what the seed generator makes per enterprise
Line = tuple[str, dict[str, Any], str]  # kind, payload, time


def seed_mix(count: int) -> Iterator[Line]:
    yield from Generator(max(10, round(count / RECORDS_PER_ENTERPRISE)), seed=42).records()


def _register(enterprises: int) -> list[Line]:
    """A register of ``enterprises``, each with one product filed after it."""
    generator = Generator(enterprises, seed=42)
    filed = [line for line in generator._register() if line[0] == "enterprise.filed"]
    products = []
    for n, (_, enterprise, time_) in enumerate(filed):
        body = f"0690{n:09d}"
        gtin = body + str(gtin_check_digit(body))
        products.append(("product.filed", _product(gtin, enterprise["uscc"], n), time_))
    return filed + products


def _product(gtin: str, owner: str, n: int) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "name": f"婴幼儿配方奶粉 A{n % 1000}",
        "hs_code": "1901101000",
        "origin_country": ["NZ", "NL", "IE", "DE", "AU", "FR"][n % 6],
        "owner_uscc": owner,
        "risk_class": ["low", "medium", "high"][n % 3],
    }


def filings_mix(count: int) -> Iterator[Line]:
    yield from _register(max(5, count // 2))


def _day_time(start: dt.date, n: int, per_day: int) -> tuple[dt.date, str]:
    day = start + dt.timedelta(days=n // per_day)
    seconds = 3600 + (n % per_day) * 30_000 // per_day
    return day, f"{day.isoformat()}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:00.000Z"


def sanctions_mix(count: int) -> Iterator[Line]:
    """Violations (two in three), yellow cards and interviews against a tenth as many
    filed enterprises."""
    register = _register(max(5, count // 20))
    yield from (line for line in register if line[0] == "enterprise.filed")
    usccs = [line[1]["uscc"] for line in register if line[0] == "enterprise.filed"]
    start = SEED_ANCHOR - dt.timedelta(days=180)
    for n in range(count - len(usccs)):
        day, time_ = _day_time(start, n, max(1, count // 150))
        uscc = usccs[(n * 7919) % len(usccs)]
        if n % 3 == 2:
            kind = "sanction.yellow_card" if n % 2 else "sanction.interview"
            yield kind, {"uscc": uscc, "reason": "屡次申报不实", "on": day.isoformat()}, time_
            continue
        violation = {
            "uscc": uscc,
            "item": "ciq.declaration-error",
            "occurred_on": day.isoformat(),
            "case_no": f"深检罚〔{day.year}〕{n}号",
            "fine_fen": 200000,
        }
        yield "violation.recorded", violation, time_


def complaints_mix(count: int) -> Iterator[Line]:
    """Complaints and recalls of declared batches against filed products."""
    register = _register(max(5, count // 20))
    yield from register
    products = [(line[1]["gtin"], line[1]["owner_uscc"]) for line in register[len(register) // 2 :]]
    start = SEED_ANCHOR - dt.timedelta(days=180)
    batches: list[tuple[str, str]] = []
    for n in range(count - len(register)):
        day, time_ = _day_time(start, n, max(1, count // 150))
        gtin, owner = products[(n * 7919) % len(products)]
        if n % 4 == 0 or not batches:
            batch = f"B{n:08d}"
            batches.append((gtin, batch))
            yield (
                "batch.declared",
                {
                    "gtin": gtin,
                    "batch": batch,
                    "quantity": 1000,
                    "produced_on": (day - dt.timedelta(days=30)).isoformat(),
                    "port": "CNSZX",
                    "declaration_no": f"5316{n:012d}",
                    "declarant_uscc": owner,
                },
                time_,
            )
        elif n % 4 == 1:
            gtin, batch = batches[-1]
            reason = "检出不合格项目，主动召回"
            recall = {
                "gtin": gtin,
                "batches": [batch],
                "reason": reason,
                "issued_on": day.isoformat(),
            }
            yield "recall.issued", recall, time_
        else:
            complaint = {"uscc": owner, "channel": "12365", "gtin": gtin, "summary": "标签无中文"}
            yield "complaint.received", complaint, time_


MIXES: dict[str, Callable[[int], Iterator[Line]]] = {
    "seed": seed_mix,
    "filings": filings_mix,
    "sanctions": sanctions_mix,
    "complaints": complaints_mix,
}


def write_records(path: Path, mix: str, count: int) -> int:
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for kind, payload, time_ in MIXES[mix](count):
            out.write(
                json.dumps({"kind": kind, "payload": payload, "time": time_}, ensure_ascii=False)
            )
            out.write("\n")
            written += 1
            if written >= count:
                break
    return written


def run_cli(args: list[str], url: str, workdir: Path) -> tuple[float, float, str]:
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": url,
        "CREDTRACE_KEY_FILE": str(workdir / "ledger.key"),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lookup_api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode != 0:
        raise SystemExit(f"credtrace {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, max(peak, before) / 1024, result.stdout.strip().splitlines()[0]


def bench_import(mix: str, kind: str, pg_url: str | None, count: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="credtrace-import-") as tmp:
        records = Path(tmp) / "records.jsonl"
        written = write_records(records, mix, count)
        size_mb = records.stat().st_size / 1e6
        # The seed mix keeps its old heading, so that --against older commits compares it.
        what = "mixed records" if mix == "seed" else f"records of the {mix} mix"
        print(f"credtrace import of {written:,} {what} ({size_mb:.0f} MB), {kind}", flush=True)
        rates = []
        for run in range(runs):
            workdir = Path(tmp) / f"run{run}"
            workdir.mkdir()
            with fresh_database(kind, pg_url, workdir) as url:
                history = f"2000-01-01..{SEED_ANCHOR.isoformat()}"  # the mixes' times lie in it
                elapsed, peak, line = run_cli(
                    ["import", str(records), "--historical", history], url, workdir
                )
            shutil.rmtree(workdir, ignore_errors=True)
            if not line.startswith(f"imported {written} of {written} "):
                raise SystemExit(f"the {mix} mix was not imported whole: {line}")
            rates.append(written / elapsed)
            print(
                f"    run {run + 1}: {written / elapsed:,.0f} records/s, {elapsed:.1f} s, "
                f"peak RSS {peak:.0f} MB ({line})",
                flush=True,
            )
        print(f"  import: median {statistics.median(rates):,.0f} records/s", flush=True)


def bench_seed(enterprises: int, runs: int) -> None:
    print(f"credtrace seed --enterprises {enterprises:,}, sqlite", flush=True)
    times = []
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="credtrace-seed-") as tmp:
            workdir = Path(tmp)
            url = f"sqlite:///{workdir / 'seed.db'}"
            elapsed, peak, line = run_cli(["seed", "--enterprises", str(enterprises)], url, workdir)
        times.append(elapsed)
        print(
            f"    run {run + 1}: {elapsed:.1f} s, peak RSS {peak:.0f} MB ({line[:90]}...)",
            flush=True,
        )
    print(f"  seed: median {statistics.median(times):.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default=os.environ.get("CREDTRACE_BENCH_DATABASE_URL"))
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed-enterprises", type=int, default=100_000)
    parser.add_argument("--only", choices=["import", "seed"], action="append")
    parser.add_argument("--mix", choices=sorted(MIXES), action="append", help="default: all")
    args = parser.parse_args()
    only = set(args.only or ["import", "seed"])
    if "import" in only:
        for mix in args.mix or list(MIXES):
            bench_import(mix, "sqlite", None, args.records, args.runs)
            if args.pg:
                bench_import(mix, "postgres", args.pg, args.records, args.runs)
    if "seed" in only:
        bench_seed(args.seed_enterprises, max(1, min(args.runs, 2)))


if __name__ == "__main__":
    main()
