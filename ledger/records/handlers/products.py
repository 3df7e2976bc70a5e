"""Products: filed once by their owner, revoked."""

from __future__ import annotations

from ledger.records.handler import Enterprise, Handler, New, Product, update
from ledger.records.state import Payload, ProjectionState


def _filed(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.put(
        "proj_products",
        {
            "gtin": r["gtin"],
            "name": r.get("name"),
            "hs_code": r["hs_code"],
            "origin_country": r["origin_country"],
            "owner_uscc": r["owner_uscc"],
            "risk_class": r["risk_class"],
            "status": "active",
            "filed_entry": index,
            "revoked_entry": None,
        },
    )


def _revoked(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    update(state, "proj_products", (r["gtin"],), status="revoked", revoked_entry=index)


NOT_FILED_YET = New(
    "proj_products", ("gtin",), lambda r, row: f"product {r.get('gtin')} is already filed"
)

HANDLERS = (
    Handler(
        "product.filed",
        _filed,
        references=(NOT_FILED_YET, Enterprise("owner_uscc")),
        owns_row=True,
        writer="enterprise",
    ),
    Handler("product.revoked", _revoked, references=(Product(),), writer="product owner"),
)
