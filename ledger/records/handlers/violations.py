"""Violations: recorded against an item of the active catalogue, revoked once."""

from __future__ import annotations

from ledger.records.handler import Enterprise, FollowUp, Handler, ItemCheck, update
from ledger.records.kinds import RecordError
from ledger.records.state import Payload, ProjectionState


def _item_in_catalogue(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    why = item_check(r["item"]) if item_check else None
    if why:
        raise RecordError(why, "item")


def _recorded(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.put(
        "proj_violations",
        {
            "entry": index,
            "uscc": r["uscc"],
            "item": r["item"],
            "occurred_on": r["occurred_on"],
            "case_no": r["case_no"],
            "fine_fen": r.get("fine_fen"),
            "basis": r.get("basis"),
            "note": r.get("note"),
            "revoked_entry": None,
            "revoked_reason": None,
        },
    )


def _revoked(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    update(state, "proj_violations", (r["entry"],), revoked_entry=index, revoked_reason=r["reason"])


HANDLERS = (
    Handler(
        "violation.recorded",
        _recorded,
        references=(Enterprise(),),
        rules=(_item_in_catalogue,),
        owns_row=True,
    ),
    Handler(
        "violation.revoked",
        _revoked,
        references=(
            FollowUp("proj_violations", "entry", "violation", "revoked_entry", "uscc"),
            Enterprise(),
        ),
    ),
)
