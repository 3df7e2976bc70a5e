"""Complaints: received about an enterprise (perhaps one of its products), verified once."""

from __future__ import annotations

from ledger.records.handler import Enterprise, FollowUp, Handler, Product, update
from ledger.records.state import Payload, ProjectionState


def _received(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.put(
        "proj_complaints",
        {
            "entry": index,
            "uscc": r["uscc"],
            "channel": r["channel"],
            "gtin": r.get("gtin"),
            "summary": r["summary"],
            "verified_entry": None,
        },
    )


def _verified(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    update(state, "proj_complaints", (r["entry"],), verified_entry=index)


HANDLERS = (
    Handler(
        "complaint.received",
        _received,
        references=(Enterprise(), Product(optional=True)),
        owns_row=True,
    ),
    Handler(
        "complaint.verified",
        _verified,
        references=(
            FollowUp("proj_complaints", "entry", "complaint", "verified_entry", "uscc"),
            Enterprise(),
        ),
    ),
)
