"""The officers' pages in-process: search and an enterprise's grade; medians of runs.

Seeds ``--enterprises`` filed enterprises (every hundredth with a serious violation, every
thousandth noticed for the blacklist); then, through the app in-process (Litestar's test
client, signed in by the session cookie):

- ``GET /officer?q=`` with a name substring (a scan of the names) and a USCC prefix;
- ``GET /officer/enterprises/{uscc}`` (the credit route's explanation, rendered);
- ``GET /officer/blacklist``;
- ``GET /v1/ledger/key`` (a static answer) on the same stack, for the ratio.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_platform import _timed, append_records, bench_database, print_medians, seeded_services

from lookup_api.pages.session import SESSION_COOKIE
from lookup_api.wiring import Services
from tests.factories import enterprise_payload, uscc, without_regrading

ORIGIN = "bench.credtrace.local/ledger"
CHUNK = 2000
HTML = {"Accept": "text/html"}


def seed(services: Services, enterprises: int) -> None:
    ledger = services.ledger
    without_regrading(ledger)  # grading on append is not what is measured here
    records: list[tuple[str, dict[str, Any]]] = []
    for n in range(enterprises):
        records.append(("enterprise.filed", enterprise_payload(n)))
        if n % 100 == 0:
            violation = {
                "uscc": uscc(n),
                "item": "ciq.adulteration",
                "occurred_on": "2026-06-01",
                "case_no": f"B-{n}",
            }
            records.append(("violation.recorded", violation))
        if n % 1000 == 0:
            records.append(("blacklist.noticed", {"uscc": uscc(n), "reason": "bench"}))
    append_records(services, records)


def run(kind: str, pg: str | None, enterprises: int, requests: int) -> dict[str, Any]:
    from litestar.testing import TestClient

    from lookup_api.app import create_app
    from lookup_api.auth import create_key

    with seeded_services(kind, pg, enterprises, seed, "pages") as (settings, services):
        token = create_key(services.engine, "officer")[1]
        rng = random.Random(7)
        names = [str(rng.randrange(enterprises)) for _ in range(100)]
        prefixes = [uscc(rng.randrange(enterprises))[:14] for _ in range(100)]
        graded = [uscc(100 * rng.randrange(max(1, enterprises // 100))) for _ in range(100)]
        with TestClient(create_app(settings, services)) as client:
            client.cookies.set(SESSION_COOKIE, token)

            def page(path: str) -> None:
                response = client.get(path, headers=HTML)
                assert response.status_code == 200, response.text[:300]

            def static(_: int) -> None:
                assert client.get("/v1/ledger/key").status_code == 200

            return {
                "name": _timed(lambda i: page(f"/officer?q={names[i % 100]}"), requests),
                "prefix": _timed(lambda i: page(f"/officer?q={prefixes[i % 100]}"), requests),
                "grade": _timed(
                    lambda i: page(f"/officer/enterprises/{graded[i % 100]}"), requests
                ),
                "blacklist": _timed(lambda _: page("/officer/blacklist"), requests),
                "static": _timed(static, requests),
                "size": services.ledger.size(),
            }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    options = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    pg = bench_database(parser, options.db)
    runs = [run(options.db, pg, options.enterprises, options.requests) for _ in range(options.runs)]
    print(
        f"database: {options.db}; {options.enterprises:,} enterprises, {runs[0]['size']:,} "
        f"entries; in-process; medians of {options.runs} runs of {options.requests} requests"
    )
    labels = {
        "name": "GET /officer?q=<name part> (20 a page)",
        "prefix": "GET /officer?q=<USCC prefix>",
        "grade": "GET /officer/enterprises/{uscc}",
        "blacklist": "GET /officer/blacklist",
        "static": "GET /v1/ledger/key (static)",
    }
    print_medians(runs, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
