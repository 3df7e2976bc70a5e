"""The officer dashboard: each chart's figures from one query over the projections, on
SQLite and PostgreSQL, and the page that draws them."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections import Counter

from credit.catalogue import load_policy
from ledger.store.engine import read_transaction
from lookup_api.routes.dashboard.service import (
    INSPECTION_MONTHS,
    UNGRADED,
    VIOLATION_MONTHS,
    figures,
    last_months,
)
from tests.pages_env import (
    DISHONEST,
    GENERAL,
    GOOD,
    INSPECTED_DAYS_AGO,
    MINOR,
    NEW,
    POOR,
    PORTS,
    VIOLATIONS,
    Site,
    reading_site,
    site,
)

__all__ = ["reading_site", "site"]  # the fixtures
SVG = "{http://www.w3.org/2000/svg}"


def test_last_months_cross_the_year() -> None:
    assert last_months(dt.date(2026, 2, 28), 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert len(last_months(dt.date(2026, 12, 3), 24)) == 24


def test_figures_from_the_projections(reading_site: Site) -> None:
    policy = load_policy()
    today = reading_site.seeded.today
    with read_transaction(reading_site.services.engine) as conn:
        found = figures(conn, policy, today)
    # Graded by the real regrader: 36 serious points D, 24 C, 6 points or filed lately B.
    grades = dict(found.grades)
    assert [g for g, _ in found.grades] == [*(g.id for g in policy.grades), UNGRADED]
    expected = Counter(
        {GOOD: "A", MINOR: "A", GENERAL: "B", NEW: "B", POOR: "C", DISHONEST: "D"}.values()
    )
    assert grades == {g.id: expected[g.id] for g in policy.grades} | {UNGRADED: 0}

    assert found.months == last_months(today, VIOLATION_MONTHS)
    by_month = Counter(reading_site.seeded.month(days) for *_, days in VIOLATIONS)
    assert dict(zip(found.months, found.violations, strict=True)) == {
        m: by_month.get(m, 0) for m in found.months
    }

    assert found.inspection_months == last_months(today, INSPECTION_MONTHS)
    # Every port has 12 inspections, so the order is by name; port n failed n of its 4
    # latest.
    assert [p.port for p in found.ports] == sorted(PORTS)
    latest = reading_site.seeded.month(INSPECTED_DAYS_AGO[0])
    inspected = {reading_site.seeded.month(d) for d in INSPECTED_DAYS_AGO}
    for trend in found.ports:
        assert trend.inspections == 4 * len(INSPECTED_DAYS_AGO)
        failed = PORTS.index(trend.port)
        shares = dict(zip(found.inspection_months, trend.shares, strict=True))
        for month, share in shares.items():
            if month == latest:
                assert share == failed / 4
            elif month in inspected:
                assert share == 0
            else:
                assert share is None


def test_a_revoked_violation_leaves_the_chart(site: Site) -> None:
    index = site.seeded.index["minor"]
    month = site.seeded.month(130)
    response = site.client.post(
        "/v1/records",
        json={
            "kind": "violation.revoked",
            "payload": {"uscc": MINOR, "entry": index, "reason": "quashed on appeal"},
        },
        headers=site.officer,
    )
    assert response.status_code == 201, response.text
    with read_transaction(site.services.engine) as conn:
        found = figures(conn, load_policy(), site.seeded.today)
    assert dict(zip(found.months, found.violations, strict=True))[month] == 0


def test_the_page_draws_three_accessible_charts(reading_site: Site) -> None:
    response = reading_site.client.get("/officer/dashboard?lang=en", headers=reading_site.officer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    svgs = [html[a : html.index("</svg>", a) + 6] for a in _starts(html, "<svg")]
    assert len(svgs) == 3
    titles = []
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
        titles.append(root.find(f"{SVG}title").text)  # type: ignore[union-attr]
    assert titles == [
        "Credit grade distribution",
        "Violations per month",
        "Non-conformity trend by port",
    ]
    chinese = reading_site.client.get(
        "/officer/dashboard?lang=zh", headers=reading_site.officer
    ).text
    assert "信用等级分布" in chinese and "各口岸不合格率趋势" in chinese


def test_only_an_officer_sees_the_dashboard(reading_site: Site) -> None:
    assert reading_site.client.get("/officer/dashboard").status_code == 401
    bad = reading_site.client.get("/officer/dashboard", headers={"Authorization": "Bearer ct_nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")


def _starts(text: str, needle: str) -> list[int]:
    out, at = [], text.find(needle)
    while at >= 0:
        out.append(at)
        at = text.find(needle, at + 1)
    return out
