"""A small, realistic demo log: a few enterprises, products, batches and inspections."""

from __future__ import annotations

from typing import Any

from ledger.records.entry import record_entry
from ledger.store.engine import read_transaction
from ledger.store.log import Ledger
from ledger.store.sql import placeholders
from qr.issuance import issue_codes, ledger_appender

DEMO_ACTOR = "system:demo"

_ENTERPRISES = [
    ("9144030034527391XN", "深圳市前海跨境优品进出口有限公司", ["importer", "cbec_platform"]),
    ("91110108600257467C", "北京中关村检验认证有限公司", ["inspection_body"]),
    ("913101151322486144", "上海浦东冷链食品进口有限公司", ["importer"]),
    ("914401011904735291", "广州南沙母婴用品贸易有限公司", ["importer", "exporter"]),
]
_PRODUCTS = [
    (
        "09506000134352",
        "婴幼儿配方奶粉 900g Infant formula",
        "1901101000",
        "NZ",
        "914401011904735291",
        "high",
    ),
    (
        "6901234567892",
        "冷冻三文鱼片 Frozen salmon fillet",
        "0304410000",
        "NO",
        "913101151322486144",
        "medium",
    ),
]
_BATCHES = [
    ("09506000134352", "NZ2611A", 12000, "914401011904735291", "conformant"),
    ("09506000134352", "NZ2611B", 8000, "914401011904735291", "conformant"),
    ("6901234567892", "NO-4471", 3500, "913101151322486144", "non_conformant"),
]


def _records() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for uscc, name, roles in _ENTERPRISES:
        payload = {
            "uscc": uscc,
            "name": name,
            "roles": roles,
            "address": "中国",
            "country": "CN",
            "filed_on": "2024-03-01",
        }
        out.append(("enterprise.filed", payload))
    for gtin, name, hs, origin, owner, risk in _PRODUCTS:
        payload = {
            "gtin": gtin,
            "name": name,
            "hs_code": hs,
            "origin_country": origin,
            "owner_uscc": owner,
            "risk_class": risk,
        }
        out.append(("product.filed", payload))
    for gtin, batch, qty, declarant, outcome in _BATCHES:
        declared = {
            "gtin": gtin,
            "batch": batch,
            "quantity": qty,
            "produced_on": "2026-09-01",
            "expires_on": "2028-09-01",
            "port": "CNSZX",
            "declaration_no": f"5316{qty:08d}",
            "declarant_uscc": declarant,
        }
        inspected = {
            "gtin": gtin,
            "batch": batch,
            "outcome": outcome,
            "inspected_on": "2026-10-15",
            "body_uscc": "91110108600257467C",
            "accepted_third_party": True,
        }
        out += [("batch.declared", declared), ("inspection.result", inspected)]
    violation = {
        "uscc": "913101151322486144",
        "item": "ciq.late-declaration",
        "occurred_on": "2026-10-20",
        "case_no": "沪检罚〔2026〕118号",
        "fine_fen": 500000,
    }
    out.append(("violation.recorded", violation))
    return out


DEMO_CODES = 5  # traceability codes of the example batch, for the consumer page
DEMO_ENTERPRISES = 40  # synthetic ones around the named examples; seeds in a few seconds
EXAMPLE_USCC = "914401011904735291"
EXAMPLE_GTIN = "09506000134352"
EXAMPLE_BATCH = "NZ2611A"


def seed_demo(ledger: Ledger) -> int:
    """Seed the demo log if it is empty; returns how many entries were added."""
    if ledger.size():
        return 0
    from lookup_api.bulk.seed import seed_ledger

    seed_ledger(ledger, DEMO_ENTERPRISES, seed=2026)
    entries = [record_entry(kind, payload, DEMO_ACTOR) for kind, payload in _records()]
    result = ledger.append(entries)
    if result.rejected:
        position, why = next(iter(result.rejected.items()))
        raise ValueError(f"demo record {position} was refused: {why}")
    return ledger.size()


def issue_demo_codes(ledger: Ledger, key_id: str) -> None:
    """The example batch's traceability codes (once: a seeded demo keeps its codes)."""
    if demo_serial(ledger) is None:
        issue_codes(
            ledger.engine, ledger_appender(ledger), gtin=EXAMPLE_GTIN, batch=EXAMPLE_BATCH,
            count=DEMO_CODES, key_id=key_id, actor=DEMO_ACTOR,
        )  # fmt: skip


def demo_serial(ledger: Ledger) -> str | None:
    """One issued serial of the example batch, for the URL the demo prints."""
    with read_transaction(ledger.engine) as conn:
        row = conn.exec_driver_sql(
            placeholders(
                conn,
                "SELECT c.serial FROM qr_codes c JOIN proj_code_batches b "
                "ON b.serials_root = c.serials_root AND b.gtin = c.gtin AND b.batch = c.batch "
                "WHERE c.gtin = ? AND c.batch = ? ORDER BY c.position LIMIT 1",
            ),
            (EXAMPLE_GTIN, EXAMPLE_BATCH),
        ).first()
    return None if row is None else str(row[0])
