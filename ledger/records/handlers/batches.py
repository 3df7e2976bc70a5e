"""Batches: declared once, then inspected (the row shows the latest inspection by date)."""

from __future__ import annotations

import json

from ledger.records.handler import Batch, Enterprise, Handler, New, Product
from ledger.records.state import Key, Payload, ProjectionState, Row


def batch_row(state: ProjectionState, key: Key) -> Row:
    """The batch's row, or a new empty one (not yet staged)."""
    return state.get("proj_batches", key) or {
        "gtin": key[0],
        "batch": key[1],
        "quantity": None,
        "produced_on": None,
        "expires_on": None,
        "port": None,
        "declaration_no": None,
        "declarant_uscc": None,
        "declared_entry": None,
        "outcome": None,
        "inspected_on": None,
        "inspection_entry": None,
        "codes": 0,
        "declared_time": None,
    }


def _declared(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    key = (r["gtin"], r["batch"])
    row = batch_row(state, key)
    row["quantity"] = r["quantity"]
    row["produced_on"] = r["produced_on"]
    row["expires_on"] = r.get("expires_on")
    row["port"] = r["port"]
    row["declaration_no"] = r["declaration_no"]
    row["declarant_uscc"] = r["declarant_uscc"]
    row["declared_entry"] = index
    row["declared_time"] = time
    state.put("proj_batches", row, key)


def _inspected(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    gtin, batch, outcome, inspected_on = r["gtin"], r["batch"], r["outcome"], r["inspected_on"]
    items = r.get("items")
    state.insert(
        "proj_inspections",
        {
            "entry": index,
            "gtin": gtin,
            "batch": batch,
            "outcome": outcome,
            "inspected_on": inspected_on,
            "body_uscc": r.get("body_uscc"),
            "accepted_third_party": r["accepted_third_party"],
            "items": None if items is None else json.dumps(items, ensure_ascii=False),
        },
    )
    key = (gtin, batch)
    row = batch_row(state, key)
    # The batch shows its latest inspection by date: a backfilled older one does not win.
    if row["inspected_on"] is None or inspected_on >= row["inspected_on"]:
        row["outcome"] = outcome
        row["inspected_on"] = inspected_on
        row["inspection_entry"] = index
        state.put("proj_batches", row, key)


NOT_DECLARED_YET = New(
    "proj_batches",
    ("gtin", "batch"),
    lambda r, row: f"batch {r.get('batch')} of {r.get('gtin')} is already declared",
    marker="declared_entry",  # inspections and codes of a redacted declaration leave a row
)

HANDLERS = (
    Handler(
        "batch.declared",
        _declared,
        references=(Product(), Enterprise("declarant_uscc"), NOT_DECLARED_YET),
        owns_row=True,
        writer="product owner",
    ),
    Handler(
        "inspection.result",
        _inspected,
        references=(Batch(), Enterprise("body_uscc", optional=True)),
        owns_row=True,
    ),
)
