"""Sanctions short of the blacklist: yellow cards and interviews."""

from __future__ import annotations

from ledger.records.handler import Apply, Enterprise, Handler
from ledger.records.state import Payload, ProjectionState


def _sanction(kind: str) -> Apply:
    def apply(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
        state.insert(
            "proj_sanctions",
            {
                "entry": index,
                "uscc": r["uscc"],
                "kind": kind,
                "reason": r["reason"],
                "on_date": r["on"],
            },
        )

    return apply


HANDLERS = tuple(
    Handler(kind, _sanction(kind), references=(Enterprise(),), owns_row=True)
    for kind in ("sanction.yellow_card", "sanction.interview")
)
