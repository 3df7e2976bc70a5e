"""Recalls: issued for declared batches of a product, closed once."""

from __future__ import annotations

from ledger.records.handler import Batches, FollowUp, Handler, Product, json_list, update
from ledger.records.state import Payload, ProjectionState


def _issued(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.put(
        "proj_recalls",
        {
            "entry": index,
            "gtin": r["gtin"],
            "batches": json_list(r["batches"]),
            "reason": r["reason"],
            "issued_on": r["issued_on"],
            "closed_entry": None,
        },
    )


def _closed(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    update(state, "proj_recalls", (r["entry"],), closed_entry=index)


HANDLERS = (
    Handler(
        "recall.issued",
        _issued,
        references=(Product(), Batches()),
        owns_row=True,
        writer="product owner",
    ),
    Handler(
        "recall.closed",
        _closed,
        references=(FollowUp("proj_recalls", "entry", "recall", "closed_entry", "gtin"),),
        writer="product owner",
    ),
)
