"""The explorer, the dashboard and the HTML profile in-process; medians of runs.

Seeds ``--enterprises`` filed and graded enterprises, each with a product and a batch
declared at one of eight ports and inspected (2 % non-conformant) on a day of the last
year, and a violation for every tenth enterprise on a day of the last two years; then,
through the app in-process (Litestar's test client, no network):

- ``GET /officer/dashboard`` (three grouped queries over the projections, three SVGs);
- ``GET /officer/ledger`` at random pages and ``GET /officer/ledger/{index}``;
- ``GET /v1/enterprises/{uscc}`` as JSON and as HTML (the same read, two renderings);
- ``GET /v1/ledger/key`` (a static answer) on the same stack, for the ratio.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import logging
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_platform import (
    _timed,
    append_records,
    bench_database,
    gtin_of,
    print_medians,
    seeded_services,
)

from lookup_api.wiring import Services
from tests.codes_env import product
from tests.factories import enterprise_payload, uscc, without_regrading

ORIGIN = "bench.credtrace.local/ledger"
CHUNK = 2000
PORTS = ("CNSZX", "CNSHA", "CNNGB", "CNTAO", "CNTSN", "CNXMN", "CNDLC", "CNCAN")
GRADES = ("AA", "A", "A", "A", "B", "B", "C", "D")
ITEMS = ("ciq.declaration-error", "ciq.late-declaration", "ciq.evade-inspection")


def seed(services: Services, enterprises: int) -> None:
    ledger = services.ledger
    without_regrading(ledger)  # grades are recorded below; computing them is not measured
    rng = random.Random(11)
    today = dt.date.today()
    digest = base64.b64encode(bytes(32)).decode()
    records: list[tuple[str, dict[str, Any]]] = []
    for n in range(enterprises):
        gtin, who = gtin_of(n), uscc(n)
        records.append(("enterprise.filed", enterprise_payload(n)))
        grade = {"uscc": who, "grade": rng.choice(GRADES), "score": 0, "policy": "cn-ciq-2014"}
        records.append(("credit.graded", {**grade, "as_of_size": 0, "reasons_digest": digest}))
        records.append(("product.filed", product(gtin[1:], who)))
        inspected = today - dt.timedelta(days=rng.randrange(2, 360))
        declared = {
            "gtin": gtin,
            "batch": "L1",
            "quantity": 100,
            "produced_on": (inspected - dt.timedelta(days=30)).isoformat(),
            "port": PORTS[n % len(PORTS)],
            "declaration_no": f"D-{n}",
            "declarant_uscc": who,
        }
        records.append(("batch.declared", declared))
        outcome = "non_conformant" if rng.random() < 0.02 else "conformant"
        records.append(
            (
                "inspection.result",
                {
                    "gtin": gtin,
                    "batch": "L1",
                    "outcome": outcome,
                    "inspected_on": inspected.isoformat(),
                    "accepted_third_party": False,
                },
            )
        )
        if n % 10 == 0:
            occurred = today - dt.timedelta(days=rng.randrange(2, 720))
            violation = {"uscc": who, "item": rng.choice(ITEMS), "case_no": f"C-{n}"}
            records.append(("violation.recorded", {**violation, "occurred_on": str(occurred)}))
    append_records(services, records)


def run(kind: str, pg: str | None, enterprises: int, requests: int) -> dict[str, Any]:
    from litestar.testing import TestClient

    from lookup_api.app import create_app
    from lookup_api.auth import create_key

    with seeded_services(kind, pg, enterprises, seed, "explorer") as (settings, services):
        size = services.ledger.size()
        officer = {"Authorization": f"Bearer {create_key(services.engine, 'officer')[1]}"}
        rng = random.Random(7)
        befores = [rng.randrange(1, size) for _ in range(200)]
        indices = [rng.randrange(size) for _ in range(200)]
        who = [uscc(rng.randrange(enterprises)) for _ in range(200)]
        html = {"Accept": "text/html"}
        with TestClient(create_app(settings, services)) as client:

            def get(path: str, headers: dict[str, str] | None = None) -> None:
                response = client.get(path, headers=headers)
                assert response.status_code == 200, response.text

            return {
                "dashboard": _timed(
                    lambda _: get("/officer/dashboard", officer), max(requests // 10, 10)
                ),
                "list": _timed(
                    lambda i: get(f"/officer/ledger?before={befores[i % 200]}", officer),
                    requests,
                ),
                "entry": _timed(
                    lambda i: get(f"/officer/ledger/{indices[i % 200]}", officer),
                    requests,
                ),
                "json": _timed(lambda i: get(f"/v1/enterprises/{who[i % 200]}"), requests),
                "html": _timed(lambda i: get(f"/v1/enterprises/{who[i % 200]}", html), requests),
                "static": _timed(lambda _: get("/v1/ledger/key"), requests),
                "size": size,
            }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    options = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    logging.getLogger("credtrace.access").setLevel(logging.WARNING)
    pg = bench_database(parser, options.db)
    runs = [run(options.db, pg, options.enterprises, options.requests) for _ in range(options.runs)]
    print(
        f"database: {options.db}; {options.enterprises:,} enterprises, {runs[0]['size']:,} "
        f"entries; in-process; medians of {options.runs} runs"
    )
    labels = {
        "dashboard": "GET /officer/dashboard (3 queries, 3 SVGs)",
        "list": "GET /officer/ledger?before=… (50 entries)",
        "entry": "GET /officer/ledger/{index}",
        "json": "GET /v1/enterprises/{uscc}, JSON",
        "html": "GET /v1/enterprises/{uscc}, HTML",
        "static": "GET /v1/ledger/key (static)",
    }
    print_medians(runs, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
