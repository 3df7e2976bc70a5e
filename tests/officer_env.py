"""A small ledger for the officers' pages: enterprises to search (one whose name is
markup, one with LIKE wildcards in it), one graded D by serious violations (proposed for
the blacklist), one listed and one noticed. Times are days before now, in order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ledger.records.entry import record_entry
from ledger.store.log import Ledger
from ledger.tlog.envelope import format_time
from tests.factories import enterprise_payload, uscc

XSS_NAME = "<script>alert('x')</script>恶意名称贸易公司"
WILDCARD_NAME = "100%_Co 测试"
SERIOUS = uscc(6)  # three serious violations: grade D, proposed for the blacklist
LISTED = uscc(7)
NOTICED = uscc(8)
PLAIN = [uscc(n) for n in range(9, 34)]  # enough for two pages of search results


@dataclass
class Seeded:
    violations: list[int]
    listed_entry: int
    noticed_entry: int
    noticed_time: str


def _ago(days: float) -> str:
    return format_time(dt.datetime.now(dt.UTC) - dt.timedelta(days=days))


def _date(days: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).date().isoformat()


def _add(ledger: Ledger, kind: str, payload: dict[str, Any], time: str) -> int:
    result = ledger.append([record_entry(kind, payload, "officer:test", time)])
    assert not result.rejected, result.rejected
    return result.first_index


def seed_officer_pages(ledger: Ledger) -> Seeded:
    filed = _ago(400)
    _add(ledger, "enterprise.filed", enterprise_payload(1, name=XSS_NAME), filed)
    _add(ledger, "enterprise.filed", enterprise_payload(2, name=WILDCARD_NAME), filed)
    _add(ledger, "enterprise.filed", enterprise_payload(3, name="1000 Co 测试"), filed)
    for n in (6, 7, 8):
        _add(ledger, "enterprise.filed", enterprise_payload(n, filed_on=_date(400)), filed)
    for n in range(9, 34):
        _add(ledger, "enterprise.filed", enterprise_payload(n, name=f"普通贸易公司{n}"), filed)
    _add(ledger, "blacklist.noticed", {"uscc": LISTED, "reason": "伪造单证"}, _ago(90))
    violations = [
        _add(
            ledger,
            "violation.recorded",
            {
                "uscc": SERIOUS,
                "item": "ciq.adulteration",
                "occurred_on": _date(60 - i),
                "case_no": f"SZ-2026-{i}",
            },
            _ago(60 - i),
        )
        for i in range(3)
    ]
    listed = _add(ledger, "blacklist.listed", {"uscc": LISTED, "reason": "伪造单证"}, _ago(50))
    noticed_time = _ago(5)
    noticed = _add(
        ledger, "blacklist.noticed", {"uscc": NOTICED, "reason": "拒不召回"}, noticed_time
    )
    return Seeded(violations, listed, noticed, noticed_time)
