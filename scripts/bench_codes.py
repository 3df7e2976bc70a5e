"""Traceability codes: issuance throughput, resolve latency and image rate; medians of runs.

- issue: ``--count`` codes for one batch into a fresh database (serials, Merkle root,
  stored rows, the codes.issued entry), unsigned and signed (every URL signed);
  targets for 1,000,000 codes: 30 s unsigned, 90 s signed;
- resolve: ``GET /01/.../21/{serial}`` with ``Accept: application/json`` through the app
  in-process, with ``--stored`` codes in the database (seeded once, then ``--runs`` runs
  over codes drawn from every batch), and the consumer page ``GET /info/01/...`` the same
  way; p50 and p99, target p99 10 ms for the JSON;
- images: QR symbol, PNG and SVG of signed URLs; target 500 PNG/s.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchdb import fresh_database

from ledger.records.entry import record_entry
from ledger.store.config import LedgerConfig
from lookup_api.ratelimit import RateLimits, RatePolicy
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.images import encode, png, svg
from qr.issuance import issue_codes, labels, ledger_appender
from qr.signing import load_or_create_code_keys
from tests.codes_env import BATCH, GTIN, seed

ORIGIN = "bench.credtrace.local/ledger"
PUBLIC = "https://codes.example.cn"


def _services(url: str, folder: Path) -> Services:
    settings = Settings(
        ledger=LedgerConfig(url, folder / "ledger.key", ORIGIN),
        public_url=PUBLIC,
        code_key_file=folder / "codes.key",
        # One client sends every request: a quota it never reaches, the limiter still runs.
        rate_limits=RateLimits(public=RatePolicy("public", 10**9, 60)),
    )
    services = Services.open(settings)
    seed(services.ledger)
    return services


def issue_once(kind: str, pg: str | None, count: int, signed: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-codes-") as tmp:
        folder = Path(tmp)
        with fresh_database(kind, pg, folder) as url:
            services = _services(url, folder)
            try:
                keys = load_or_create_code_keys(folder / "codes.key", f"{ORIGIN}/codes")
                start = time.perf_counter()
                issued = issue_codes(
                    services.engine,
                    ledger_appender(services.ledger),
                    gtin=GTIN,
                    batch=BATCH,
                    count=count,
                    key_id=keys.key_id,
                    actor="operator:bench",
                )
                if signed:
                    labels(PUBLIC, GTIN, BATCH, issued.serials, keys)
                return time.perf_counter() - start
            finally:
                services.close()


Latencies = dict[str, list[tuple[float, float]]]  # what was resolved -> (p50, p99) per run


def _percentiles(times: list[float]) -> tuple[float, float]:
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def resolve_latency(kind: str, pg: str | None, stored: int, requests: int, runs: int) -> Latencies:
    """Seed ``stored`` codes once, then time ``runs`` runs of JSON resolves and page views."""
    from litestar.testing import TestClient

    from lookup_api.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-resolve-") as tmp:
        folder = Path(tmp)
        with fresh_database(kind, pg, folder) as url:
            services = _services(url, folder)
            try:
                chunk = 1_000_000
                paths: list[tuple[str, str]] = []
                started = time.perf_counter()
                for n in range(0, stored, chunk):
                    lot = f"R{n // chunk}"
                    services.ledger.append(
                        [record_entry("batch.declared", _batch(lot), "officer:bench")]
                    )
                    issued = issue_codes(
                        services.engine,
                        ledger_appender(services.ledger),
                        gtin=GTIN,
                        batch=lot,
                        count=min(chunk, stored - n),
                        key_id="0123abcd",
                        actor="operator:bench",
                    )
                    sample = random.sample(issued.serials, min(1000, len(issued.serials)))
                    paths += [(lot, s) for s in sample]
                print(f"  seeded {stored:,} codes in {time.perf_counter() - started:.0f} s")
                random.shuffle(paths)
                app = create_app(services=services)
                found: Latencies = {"json": [], "page": []}
                with TestClient(app) as client:
                    for run in range(runs):
                        for what, prefix, accept in (
                            ("json", "", "application/json"),
                            ("page", "/info", "text/html"),
                        ):
                            times = []
                            for i in range(requests):
                                lot, serial = paths[(run * requests + i) % len(paths)]
                                start = time.perf_counter()
                                response = client.get(
                                    f"{prefix}/01/{GTIN}/10/{lot}/21/{serial}",
                                    headers={"Accept": accept},
                                )
                                times.append(time.perf_counter() - start)
                                assert response.status_code == 200, response.text
                            p50, p99 = _percentiles(times)
                            found[what].append((p50, p99))
                            print(
                                f"  run {run + 1} {what}: p50 {p50 * 1000:.2f} ms, "
                                f"p99 {p99 * 1000:.2f} ms",
                                flush=True,
                            )
                return found
            finally:
                services.close()


def _batch(lot: str) -> dict[str, object]:
    from tests.codes_env import batch

    return batch(GTIN, lot)


def image_rate(count: int) -> float:
    keys = load_or_create_code_keys(
        Path(tempfile.mkdtemp(prefix="bench-keys-")) / "codes.key", f"{ORIGIN}/codes"
    )
    from qr.serials import new_serials

    urls = [label.url for label in labels(PUBLIC, GTIN, BATCH, new_serials(count), keys)]
    start = time.perf_counter()
    for url in urls:
        symbol = encode(url)
        png(symbol)
        svg(symbol)
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=1_000_000, help="codes per issuance")
    parser.add_argument("--stored", type=int, default=1_000_000, help="codes stored (resolve)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--only", choices=("issue", "resolve", "images"))
    options = parser.parse_args()
    # One line per request otherwise (the client's and the service's access log).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("credtrace.access").setLevel(logging.WARNING)
    pg = os.environ.get("CREDTRACE_BENCH_DATABASE_URL") or os.environ.get(
        "CREDTRACE_TEST_DATABASE_URL"
    )
    if options.db == "postgres" and not pg:
        parser.error("--db postgres needs CREDTRACE_BENCH_DATABASE_URL")
    print(f"database: {options.db}; medians of {options.runs} runs")
    if options.only in (None, "issue"):
        for signed in (False, True):
            times = [issue_once(options.db, pg, options.count, signed) for _ in range(options.runs)]
            what = "signed" if signed else "unsigned"
            print(
                f"issue {options.count:,} codes ({what}): {statistics.median(times):.1f} s "
                f"(target {90 if signed else 30} s for 1,000,000)"
            )
    if options.only in (None, "resolve"):
        found = resolve_latency(options.db, pg, options.stored, options.requests, options.runs)
        for what, label in (("json", "resolve as JSON"), ("page", "consumer page")):
            p50 = statistics.median(r[0] for r in found[what]) * 1000
            p99 = statistics.median(r[1] for r in found[what]) * 1000
            target = " (target p99 10 ms with 10,000,000)" if what == "json" else ""
            print(
                f"{label}, {options.stored:,} codes stored: p50 {p50:.2f} ms, "
                f"p99 {p99:.2f} ms{target}"
            )
    if options.only in (None, "images"):
        rates = [image_rate(options.images) for _ in range(options.runs)]
        print(
            f"images (PNG + SVG, signed URLs): {statistics.median(rates):.0f} codes/s (target 500)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
