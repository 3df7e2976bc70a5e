"""Credit: repair requests and their decision, and the grades a policy gives."""

from __future__ import annotations

from ledger.records.handler import Enterprise, FollowUp, Handler, update
from ledger.records.state import Payload, ProjectionState


def _repair_requested(
    state: ProjectionState, r: Payload, index: int, time: str, subject: str
) -> None:
    state.put(
        "proj_repairs",
        {
            "entry": index,
            "uscc": r["uscc"],
            "grounds": r["grounds"],
            "decided_entry": None,
            "approved": None,
            "note": None,
        },
    )


def _repair_decided(
    state: ProjectionState, r: Payload, index: int, time: str, subject: str
) -> None:
    update(
        state,
        "proj_repairs",
        (r["request"],),
        decided_entry=index,
        approved=r["approved"],
        note=r.get("note"),
    )


def _graded(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.insert(
        "proj_grades",
        {
            "entry": index,
            "uscc": r["uscc"],
            "grade": r["grade"],
            "score": r["score"],
            "policy": r["policy"],
            "as_of_size": r["as_of_size"],
            "reasons_digest": r["reasons_digest"],
            "graded_time": time,
        },
    )
    update(
        state,
        "proj_enterprises",
        (r["uscc"],),
        grade=r["grade"],
        score=r["score"],
        graded_entry=index,
    )


HANDLERS = (
    Handler(
        "credit.repair_requested",
        _repair_requested,
        references=(Enterprise(),),
        owns_row=True,
        writer="enterprise",
    ),
    Handler(
        "credit.repair_decided",
        _repair_decided,
        references=(
            FollowUp("proj_repairs", "request", "repair request", "decided_entry", "uscc"),
            Enterprise(),
        ),
    ),
    Handler(
        "credit.graded",
        _graded,
        references=(Enterprise(),),
        owns_row=True,
        through_records=False,  # the regrader's, actor system:credit
    ),
)
