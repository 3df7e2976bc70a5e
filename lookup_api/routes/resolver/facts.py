"""The resolver's JSON answer: the facts the consumer page shows, for a program."""

from __future__ import annotations

from typing import Any

import msgspec

from credit.disclosure import public_blacklist
from lookup_api.routes.resolver.service import GS1_VOC, Resolution, links

GRADE_MEANINGS = {
    "AA": "excellent credit: lightest inspection",
    "A": "good credit",
    "B": "ordinary credit: more inspection",
    "C": "poor credit: targeted inspection",
    "D": "dishonest: every batch inspected, publicly listed",
}


def _plain(value: Any) -> Any:
    return None if value is None else msgspec.to_builtins(value)


def facts(found: Resolution, base: str) -> dict[str, Any]:
    """Product, batch, code, enterprise and recalls, with what level was resolved."""
    product, batch, code, owner = found.product, found.batch, found.code, found.owner
    open_recalls = [r for r in product.recalls if r.open]
    batch_recalls = [
        r for r in open_recalls if batch is not None and (not r.batches or batch.batch in r.batches)
    ]
    return {
        "requested": {
            "gtin": found.requested.gtin,
            "batch": found.requested.batch,
            "serial": found.requested.serial,
            "variant": found.requested.variant,  # AI 22: passed through, looked up nowhere
        },
        "resolved": {
            "level": found.level,
            "gtin": found.resolved.gtin,
            "batch": found.resolved.batch,
            "serial": found.resolved.serial,
        },
        "notes": found.notes,
        "product": {
            "gtin": product.gtin,
            "name": product.name,
            "origin_country": product.origin_country,
            "status": product.status,
            "owner_uscc": product.owner_uscc,
            "owner_name": product.owner_name,
            "filed_entry": product.filed_entry,
        },
        "batch": None
        if batch is None
        else {
            "batch": batch.batch,
            "produced_on": batch.produced_on,
            "expires_on": batch.expires_on,
            "port": batch.port,
            "inspection": _plain(batch.inspection),
            "recalled": bool(batch_recalls),
            "declared_entry": batch.declared_entry,
        },
        "code": None
        if code is None
        else {
            "serial": code.serial,
            "status": code.status,
            "detail": code.detail,
            "entry": None if code.code is None else code.code.entry,
            "revoked_entry": code.revoked_entry,
        },
        "enterprise": None
        if owner is None
        else {
            "uscc": owner.uscc,
            "name": owner.name,
            "status": owner.status,
            "grade": owner.grade,
            "grade_meaning": GRADE_MEANINGS.get(owner.grade or ""),
            "graded_entry": owner.graded_entry,
            "blacklist": public_blacklist(owner.blacklist),  # a notice is not public
        },
        "recalls": [_plain(r) for r in (batch_recalls if batch is not None else open_recalls)],
        "tree_size": product.tree_size,
        "links": {GS1_VOC + k: v for k, v in links(found, base).items()},
    }
