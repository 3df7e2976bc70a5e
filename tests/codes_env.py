"""A small ledger with a declared batch, for the traceability code tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.records.entry import record_entry
from ledger.records.kinds import record_date
from ledger.records.projector import Projector
from ledger.store.log import Ledger
from ledger.tlog.envelope import now_time
from qr.issuance import ledger_appender
from tests.factories import enterprise_payload, uscc

GTIN13 = "6901234567892"
GTIN = "0" + GTIN13
OTHER_GTIN = "00000096385074"  # a GTIN-8 stored as 14 digits
OWNER = uscc(4)
BROKER = uscc(1)
STRANGER = uscc(5)
BATCH = "B1"


def add(ledger: Ledger, kind: str, payload: dict[str, Any]) -> int:
    result = ledger.append([record_entry(kind, payload, "officer:test")])
    assert not result.rejected, result.rejected
    return result.first_index


def appender(ledger: Ledger) -> Any:
    """What issue_codes takes: append one entry, its index, or raise why it was refused."""
    return ledger_appender(ledger)


def product(gtin: str, owner: str, name: str = "婴幼儿配方奶粉") -> dict[str, Any]:
    return {
        "gtin": gtin,
        "name": name,
        "hs_code": "1901.10",
        "origin_country": "NZ",
        "owner_uscc": owner,
        "risk_class": "high",
    }


def batch(gtin: str, lot: str) -> dict[str, Any]:
    today = record_date(now_time())
    return {
        "gtin": gtin,
        "batch": lot,
        "quantity": 1200,
        "produced_on": (today - dt.timedelta(days=30)).isoformat(),
        "expires_on": (today + dt.timedelta(days=300)).isoformat(),
        "port": "CNSZX",
        "declaration_no": f"D-{lot}",
        "declarant_uscc": BROKER,
    }


def seed(ledger: Ledger) -> None:
    """Owner, broker and stranger filed; two products of the owner; batch B1 declared."""
    ledger.hooks = [Projector()]
    for n, roles in ((4, ["importer"]), (1, ["customs_broker"]), (5, ["importer"])):
        add(ledger, "enterprise.filed", enterprise_payload(n, roles=roles))
    add(ledger, "product.filed", product(GTIN13, OWNER))
    add(ledger, "product.filed", product(OTHER_GTIN[-8:], OWNER, "橄榄油"))
    add(ledger, "batch.declared", batch(GTIN, BATCH))
