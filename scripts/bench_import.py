"""Import and seed benchmarks: `credtrace import` of mixed records, `credtrace seed` presets.

Each run uses a fresh database; figures are medians of ``--runs`` runs and each
run is printed. Peak memory is the largest resident set of the import process
and its worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import fresh_database

from lookup_api.bulk.seed import Generator

RECORDS_PER_ENTERPRISE = 31.5  # what the seed generator makes per enterprise


def write_records(path: Path, count: int) -> int:
    enterprises = max(10, round(count / RECORDS_PER_ENTERPRISE))
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for kind, payload, time_ in Generator(enterprises, seed=42).records():
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


def bench_import(kind: str, pg_url: str | None, count: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="credtrace-import-") as tmp:
        records = Path(tmp) / "records.jsonl"
        written = write_records(records, count)
        size_mb = records.stat().st_size / 1e6
        print(
            f"credtrace import of {written:,} mixed records ({size_mb:.0f} MB), {kind}", flush=True
        )
        rates = []
        for run in range(runs):
            workdir = Path(tmp) / f"run{run}"
            workdir.mkdir()
            with fresh_database(kind, pg_url, workdir) as url:
                elapsed, peak, line = run_cli(["import", str(records)], url, workdir)
            shutil.rmtree(workdir, ignore_errors=True)
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
    args = parser.parse_args()
    only = set(args.only or ["import", "seed"])
    if "import" in only:
        bench_import("sqlite", None, args.records, args.runs)
        if args.pg:
            bench_import("postgres", args.pg, args.records, args.runs)
    if "seed" in only:
        bench_seed(args.seed_enterprises, max(1, min(args.runs, 2)))


if __name__ == "__main__":
    main()
