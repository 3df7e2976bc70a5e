"""The response cache: resolve JSON latency in-process, no cache vs cache cold vs warm.

Seeds ``--enterprises`` filed enterprises, each with a product and a declared batch, and
``--codes`` codes on each of the first ``--batches`` batches; then, through the app
in-process (Litestar's test client, no network), ``GET /01/{gtin}/10/{batch}/21/{serial}``
with ``Accept: application/json`` for ``--requests`` distinct codes:

- no cache: the service without Redis (every answer read from the database);
- cold: with Redis, each code asked for the first time (a miss, read, stored);
- warm: the same codes again (hits: one Lua round trip to Redis, no database);
- static: ``GET /v1/ledger/key`` on the same stack, what the test client and the
  middleware cost alone (the floor under every figure above).

p50 and p99 of each, medians of ``--runs`` runs (a fresh database and Redis prefix per
run). Needs PostgreSQL (``CREDTRACE_BENCH_DATABASE_URL`` or ``CREDTRACE_TEST_DATABASE_URL``)
for ``--db postgres`` and Redis (``CREDTRACE_BENCH_REDIS_URL`` or
``CREDTRACE_TEST_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_platform import gtin_of, seed
from benchdb import fresh_database

from ledger.store.config import LedgerConfig
from lookup_api.ratelimit import RateLimits
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.issuance import issue_codes, ledger_appender

ORIGIN = "bench.credtrace.local/ledger"


def _latency(client: Any, paths: list[str]) -> tuple[float, float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path, headers={"Accept": "application/json"})
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def run(kind: str, pg: str | None, redis: str, options: argparse.Namespace) -> dict[str, Any]:
    from litestar.testing import TestClient

    from lookup_api.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        folder = Path(tmp)
        with fresh_database(kind, pg, folder) as url:
            plain = Settings(
                ledger=LedgerConfig(url, folder / "ledger.key", ORIGIN),
                rate_limits=RateLimits(enabled=False),
                code_key_file=folder / "codes.key",
            )
            cached = Settings(
                ledger=plain.ledger,
                rate_limits=plain.rate_limits,
                code_key_file=plain.code_key_file,
                redis_url=redis,
                redis_prefix=f"credtrace-bench:{uuid.uuid4().hex[:10]}:",
            )
            services = Services.open(plain)
            try:
                seed(services, options.enterprises)
                paths: list[str] = []
                for n in range(options.batches):
                    issued = issue_codes(
                        services.engine,
                        ledger_appender(services.ledger),
                        gtin=gtin_of(n),
                        batch="L1",
                        count=options.codes,
                        key_id="0123abcd",
                        actor="operator:bench",
                    )
                    paths += [f"/01/{gtin_of(n)}/10/L1/21/{s}" for s in issued.serials]
                if services.engine.dialect.name == "postgresql":
                    with services.engine.begin() as conn:
                        conn.exec_driver_sql("ANALYZE")
                asked = paths[:: max(1, len(paths) // options.requests)][: options.requests]
                with TestClient(create_app(plain, services)) as client:
                    _latency(client, asked[:50])  # the first requests open connections
                    no_cache = _latency(client, asked)
            finally:
                services.close()
            services = Services.open(cached)
            try:
                with TestClient(create_app(cached, services)) as client:
                    _latency(client, [f"/01/{gtin_of(n)}" for n in range(50)])
                    cold = _latency(client, asked)
                    warm = _latency(client, asked)
                    static = _latency(client, ["/v1/ledger/key"] * len(asked))
                assert services.cache is not None
                leftover = list(services.cache.client.scan_iter(f"{cached.redis_prefix}*"))
                if leftover:
                    services.cache.client.delete(*leftover)
            finally:
                services.close()
    return {"no cache": no_cache, "cold": cold, "warm": warm, "static": static}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=20, help="batches given codes")
    parser.add_argument("--codes", type=int, default=1000, help="codes per batch")
    parser.add_argument("--requests", type=int, default=2000, help="distinct codes asked")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    options = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("credtrace.access").setLevel(logging.WARNING)
    pg = os.environ.get("CREDTRACE_BENCH_DATABASE_URL") or os.environ.get(
        "CREDTRACE_TEST_DATABASE_URL"
    )
    redis = os.environ.get("CREDTRACE_BENCH_REDIS_URL") or os.environ.get(
        "CREDTRACE_TEST_REDIS_URL"
    )
    if options.db == "postgres" and not pg:
        parser.error("--db postgres needs CREDTRACE_BENCH_DATABASE_URL")
    if not redis:
        parser.error("needs CREDTRACE_BENCH_REDIS_URL")
    runs = [run(options.db, pg, redis, options) for _ in range(options.runs)]
    print(
        f"database: {options.db} + Redis; {options.enterprises:,} enterprises, "
        f"{options.batches * options.codes:,} codes, {options.requests:,} distinct codes "
        f"asked; medians of {options.runs} runs"
    )
    for mode in ("no cache", "cold", "warm", "static"):
        p50 = statistics.median(r[mode][0] for r in runs)
        p99 = statistics.median(r[mode][1] for r in runs)
        what = "static route" if mode == "static" else f"resolve JSON, {mode}"
        print(f"{what:>22}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
