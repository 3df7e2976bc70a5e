"""A small, realistic demo log: a few enterprises, products, batches and inspections."""

from __future__ import annotations

from typing import Any

from ledger.jcs import canonicalize
from ledger.log import Ledger, NewEntry

DEMO_ACTOR = "system:demo"

_ENTERPRISES = [
    ("9144030034527391XN", "深圳市前海跨境优品进出口有限公司", ["importer", "cbec_platform"], "CN"),
    ("91110108600257467C", "北京中关村检验认证有限公司", ["inspection_body"], "CN"),
    ("913101151322486144", "上海浦东冷链食品进口有限公司", ["importer"], "CN"),
    ("914401011904735291", "广州南沙母婴用品贸易有限公司", ["importer", "exporter"], "CN"),
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
        "06901234567892",
        "冷冻三文鱼片 Frozen salmon fillet",
        "0304410000",
        "NO",
        "913101151322486144",
        "medium",
    ),
]


def _records() -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = []
    for uscc, name, roles, country in _ENTERPRISES:
        out.append(
            (
                "enterprise.filed",
                f"uscc:{uscc}",
                {
                    "uscc": uscc,
                    "name": name,
                    "roles": roles,
                    "address": "中国",
                    "country": country,
                    "filed_on": "2024-03-01",
                },
            )
        )
    for gtin, name, hs, origin, owner, risk in _PRODUCTS:
        out.append(
            (
                "product.filed",
                f"gtin:{gtin}",
                {
                    "gtin": gtin,
                    "name": name,
                    "hs_code": hs,
                    "origin_country": origin,
                    "owner_uscc": owner,
                    "risk_class": risk,
                },
            )
        )
    batches = [
        ("09506000134352", "NZ2611A", 12000, "914401011904735291", "conformant"),
        ("09506000134352", "NZ2611B", 8000, "914401011904735291", "conformant"),
        ("06901234567892", "NO-4471", 3500, "913101151322486144", "non_conformant"),
    ]
    for gtin, batch, qty, declarant, outcome in batches:
        out.append(
            (
                "batch.declared",
                f"batch:{gtin}/{batch}",
                {
                    "gtin": gtin,
                    "batch": batch,
                    "quantity": qty,
                    "produced_on": "2026-09-01",
                    "expires_on": "2028-09-01",
                    "port": "CNSZX",
                    "declaration_no": f"5316{qty:08d}",
                    "declarant_uscc": declarant,
                },
            )
        )
        out.append(
            (
                "inspection.result",
                f"batch:{gtin}/{batch}",
                {
                    "gtin": gtin,
                    "batch": batch,
                    "outcome": outcome,
                    "inspected_on": "2026-10-15",
                    "body_uscc": "91110108600257467C",
                    "accepted_third_party": True,
                },
            )
        )
    out.append(
        (
            "violation.recorded",
            "uscc:913101151322486144",
            {
                "uscc": "913101151322486144",
                "item": "ciq.late-declaration",
                "occurred_on": "2026-10-20",
                "case_no": "沪检罚〔2026〕118号",
                "fine_fen": 500000,
            },
        )
    )
    return out


def seed_demo(ledger: Ledger) -> int:
    """Append the demo records if the log is empty; returns how many were added."""
    if ledger.size():
        return 0
    entries = [
        NewEntry(kind, subject, canonicalize(payload), DEMO_ACTOR)
        for kind, subject, payload in _records()
    ]
    result = ledger.append(entries)
    return len(result.leaf_hashes)
