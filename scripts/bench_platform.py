"""Platform routes in-process: verify-filings of 100 items and feed pages; medians of runs.

Seeds ``--enterprises`` filed enterprises, each with a product and a declared batch, and
an open recall on every tenth product; then, through the app in-process (Litestar's test
client, no network):

- ``POST /v1/verify/filings`` with 100 random items (uscc, gtin, batch): requests/s, p50, p99;
- ``GET /v1/feed?after=…&limit=100`` at random cursors: requests/s, p50, p99;
- the tail poll answered 304 by its ETag: requests/s;
- ``GET /v1/ledger/key`` (a static answer) on the same stack, for the ratio.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchdb import fresh_database

from ledger.records.entry import record_entry
from ledger.records.ids import gtin_check_digit
from ledger.store.config import LedgerConfig
from lookup_api.ratelimit import RateLimits
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.codes_env import batch, product
from tests.factories import enterprise_payload, uscc, without_regrading

ORIGIN = "bench.credtrace.local/ledger"
CHUNK = 2000


def gtin_of(n: int) -> str:
    """The GTIN-14 of enterprise ``n``'s product."""
    body = f"69{n:010d}"
    return "0" + body + str(gtin_check_digit(body))


def seed(
    services: Services, enterprises: int, progress: Callable[[int], object] | None = None
) -> None:
    """``enterprises`` filed, each with a product and a batch; ``progress`` is told how
    many enterprises each committed chunk finished."""
    ledger = services.ledger
    without_regrading(ledger)  # grades are one column read; computing them is not measured
    records: list[tuple[str, dict[str, Any]]] = []
    for n in range(enterprises):
        gtin = gtin_of(n)
        records.append(("enterprise.filed", enterprise_payload(n)))
        records.append(("product.filed", product(gtin[1:], uscc(n))))
        records.append(("batch.declared", {**batch(gtin, "L1"), "declarant_uscc": uscc(n)}))
        if n % 10 == 0:
            recall = {"gtin": gtin, "batches": [], "reason": "bench", "issued_on": "2026-01-05"}
            records.append(("recall.issued", recall))
    append_records(services, records, progress)


def append_records(
    services: Services,
    records: list[tuple[str, dict[str, Any]]],
    progress: Callable[[int], object] | None = None,
) -> None:
    """Append ``records`` in chunks (``progress`` told of the enterprises filed), then
    gather the planner's statistics on PostgreSQL."""
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        result = services.ledger.append([record_entry(k, p, "officer:bench") for k, p in chunk])
        assert not result.rejected, next(iter(result.rejected.values()))
        if progress is not None:
            progress(sum(1 for kind, _ in chunk if kind == "enterprise.filed"))
    if services.engine.dialect.name == "postgresql":
        # What autovacuum does soon after a load: without statistics the planner scans.
        with services.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def bench_database(parser: argparse.ArgumentParser, db: str) -> str | None:
    """The PostgreSQL URL a ``--db postgres`` run uses (a parser error without one)."""
    pg = os.environ.get("CREDTRACE_BENCH_DATABASE_URL") or os.environ.get(
        "CREDTRACE_TEST_DATABASE_URL"
    )
    if db == "postgres" and not pg:
        parser.error("--db postgres needs CREDTRACE_BENCH_DATABASE_URL")
    return pg


def print_medians(runs: list[dict[str, Any]], labels: dict[str, str]) -> None:
    """One line per measured route: medians of rate, p50 and p99, and the share of the
    static route's rate (the figure that holds on a noisy machine)."""
    static_rate = statistics.median(r["static"][0] for r in runs)
    for name, label in labels.items():
        rate = statistics.median(r[name][0] for r in runs)
        p50 = statistics.median(r[name][1] for r in runs)
        p99 = statistics.median(r[name][2] for r in runs)
        print(
            f"{label}: {rate:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"({rate / static_rate:.2f} of static)"
        )


def _timed(call: Callable[[int], None], requests: int) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of ``call(i)`` for i in range(requests)."""
    times = []
    began = time.perf_counter()
    for i in range(requests):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    total = time.perf_counter() - began
    times.sort()
    return requests / total, times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


@contextmanager
def seeded_services(
    kind: str,
    pg: str | None,
    enterprises: int,
    seeder: Callable[[Services, int], None],
    name: str,
) -> Iterator[tuple[Settings, Services]]:
    """A fresh database seeded by ``seeder``, open as the app's services; rate limits off so
    that the figures measure the routes, not the limiter."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        folder = Path(tmp)
        with fresh_database(kind, pg, folder) as url:
            settings = Settings(
                ledger=LedgerConfig(url, folder / "ledger.key", ORIGIN),
                code_key_file=folder / "codes.key",
                rate_limits=RateLimits(enabled=False),
            )
            services = Services.open(settings)
            try:
                seeder(services, enterprises)
                yield settings, services
            finally:
                services.close()


def run(kind: str, pg: str | None, enterprises: int, requests: int) -> dict[str, Any]:
    from litestar.testing import TestClient

    from lookup_api.app import create_app
    from lookup_api.auth import create_key

    with seeded_services(kind, pg, enterprises, seed, "platform") as (settings, services):
        size = services.ledger.size()
        token = create_key(services.engine, "platform")[1]
        auth = {"Authorization": f"Bearer {token}"}
        rng = random.Random(7)
        bodies = [
            {
                "items": [
                    {"uscc": uscc(n), "gtin": gtin_of(n), "batch": "L1"}
                    for n in rng.sample(range(enterprises), 100)
                ]
            }
            for _ in range(50)
        ]
        cursors = [rng.randrange(size - 100) for _ in range(200)]
        with TestClient(create_app(settings, services)) as client:

            def verify(i: int) -> None:
                response = client.post(
                    "/v1/verify/filings", json=bodies[i % len(bodies)], headers=auth
                )
                assert response.status_code == 200, response.text

            def feed(i: int) -> None:
                response = client.get(f"/v1/feed?after={cursors[i % 200]}&limit=100")
                assert response.status_code == 200, response.text

            tail = client.get(f"/v1/feed?after={size - 5}")
            etag = {"If-None-Match": tail.headers["etag"]}

            def poll(_: int) -> None:
                response = client.get(f"/v1/feed?after={size - 5}", headers=etag)
                assert response.status_code == 304

            def static(_: int) -> None:
                assert client.get("/v1/ledger/key").status_code == 200

            return {
                "verify": _timed(verify, requests),
                "feed": _timed(feed, requests),
                "poll": _timed(poll, requests),
                "static": _timed(static, requests),
                "size": size,
            }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    options = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    pg = bench_database(parser, options.db)
    runs = [run(options.db, pg, options.enterprises, options.requests) for _ in range(options.runs)]
    print(
        f"database: {options.db}; {options.enterprises:,} enterprises, {runs[0]['size']:,} "
        f"entries; in-process; medians of {options.runs} runs of {options.requests} requests"
    )
    labels = {
        "verify": "POST /v1/verify/filings, 100 items",
        "feed": "GET /v1/feed, pages of 100",
        "poll": "GET /v1/feed tail, 304 by ETag",
        "static": "GET /v1/ledger/key (static)",
    }
    print_medians(runs, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
