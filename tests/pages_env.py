"""A small, realistic ledger for the officer and public pages: enterprises of every grade
(graded by the real regrader), violations over several months, and inspections at three
ports with some non-conformant results. Dates are relative to today, so the dashboard's
windows always hold them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.records.entry import record_entry
from ledger.records.kinds import record_date
from ledger.store.config import LedgerConfig
from ledger.tlog.envelope import now_time
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.ratelimit import RateLimits
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

GOOD, GENERAL, POOR, DISHONEST, MINOR, NEW = (uscc(n) for n in (11, 12, 13, 14, 15, 16))
PRODUCT = "06901234567892"
PORTS = ("CNSZX", "CNSHA", "CNNGB")  # port n fails n of its 4 latest inspections
INSPECTED_DAYS_AGO = (5, 35, 65)  # 4 batches per port on each of these days
# (name, enterprise, item, occurred days ago)
VIOLATIONS = [
    ("general", GENERAL, "ciq.evade-inspection", 40),
    ("poor1", POOR, "ciq.adulteration", 70),
    ("poor2", POOR, "ciq.forged-documents", 100),
    ("d1", DISHONEST, "ciq.adulteration", 10),
    ("d2", DISHONEST, "ciq.obstruction", 40),
    ("d3", DISHONEST, "ciq.refuse-recall", 70),
    ("minor", MINOR, "ciq.declaration-error", 130),
]


@dataclass
class Seeded:
    today: dt.date
    index: dict[str, int] = field(default_factory=dict)

    def month(self, days_ago: int) -> str:
        return (self.today - dt.timedelta(days=days_ago)).strftime("%Y-%m")


def _add(services: Services, kind: str, payload: dict[str, Any]) -> int:
    result = services.ledger.append([record_entry(kind, payload, "officer:test")])
    assert not result.rejected, result.rejected
    return result.first_index


def seed(services: Services) -> Seeded:
    today = record_date(now_time())
    s = Seeded(today)

    def ago(days: int) -> str:
        return (today - dt.timedelta(days=days)).isoformat()

    for n, who in zip((11, 12, 13, 14, 15), (GOOD, GENERAL, POOR, DISHONEST, MINOR), strict=True):
        s.index[who] = _add(
            services, "enterprise.filed", enterprise_payload(n, filed_on="2020-01-01")
        )
    s.index[NEW] = _add(services, "enterprise.filed", enterprise_payload(16, filed_on=ago(20)))
    for name, who, item, days in VIOLATIONS:
        s.index[name] = _add(
            services,
            "violation.recorded",
            {"uscc": who, "item": item, "occurred_on": ago(days), "case_no": f"案-{name}"},
        )
    _add(
        services,
        "product.filed",
        {
            "gtin": PRODUCT,
            "name": "婴幼儿配方奶粉",
            "hs_code": "1901.10",
            "origin_country": "NZ",
            "owner_uscc": GENERAL,
            "risk_class": "high",
        },
    )
    # Port n: 4 batches in each of three months, n of them non-conformant in the latest.
    lot = 0
    for p, port in enumerate(PORTS):
        for days in INSPECTED_DAYS_AGO:
            for k in range(4):
                lot += 1
                batch = f"L{lot}"
                _add(
                    services,
                    "batch.declared",
                    {
                        "gtin": PRODUCT,
                        "batch": batch,
                        "quantity": 100,
                        "produced_on": ago(days + 30),
                        "port": port,
                        "declaration_no": f"D-{batch}",
                        "declarant_uscc": GENERAL,
                    },
                )
                failed = days == INSPECTED_DAYS_AGO[0] and k < p
                _add(
                    services,
                    "inspection.result",
                    {
                        "gtin": PRODUCT,
                        "batch": batch,
                        "outcome": "non_conformant" if failed else "conformant",
                        "inspected_on": ago(days),
                        "accepted_third_party": False,
                    },
                )
    s.index["recall"] = _add(
        services,
        "recall.issued",
        {"gtin": PRODUCT, "batches": ["L1"], "reason": "标签不符", "issued_on": ago(2)},
    )
    s.index["yellow"] = _add(
        services, "sanction.yellow_card", {"uscc": GENERAL, "reason": "迟报", "on": ago(3)}
    )
    return s


@dataclass
class Site:
    client: TestClient[Litestar]
    services: Services
    seeded: Seeded
    officer: dict[str, str]  # the officer's Authorization header


@contextmanager
def open_site(db_url: str, folder: Path) -> Iterator[Site]:
    """The real app over the seeded ledger at ``db_url``, its key files in ``folder``."""
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
        rate_limits=RateLimits(enabled=False),
    )
    services = Services.open(settings)
    try:
        seeded = seed(services)
        token = create_key(services.engine, "officer")[1]
        with TestClient(create_app(settings, services)) as client:
            yield Site(client, services, seeded, {"Authorization": f"Bearer {token}"})
    finally:
        services.close()


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The real app over the seeded ledger, on SQLite and on PostgreSQL."""
    with open_site(db_url, tmp_path) as opened:
        yield opened


@pytest.fixture(scope="module")
def reading_site(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``site``, one per module, for the tests that only read it."""
    with open_site(module_db_url, tmp_path_factory.mktemp("site")) as opened:
        yield opened
