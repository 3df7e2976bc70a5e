"""Enterprises: filed once, amended, revoked."""

from __future__ import annotations

from ledger.records.handler import Enterprise, Handler, New, json_list, update
from ledger.records.state import Payload, ProjectionState


def _filed(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.put(
        "proj_enterprises",
        {
            "uscc": r["uscc"],
            "name": r.get("name"),
            "roles": json_list(r.get("roles")),
            "address": r.get("address"),
            "country": r.get("country"),
            "filed_on": r["filed_on"],
            "status": "active",
            "filed_entry": index,
            "updated_entry": index,
            "revoked_entry": None,
            "blacklist": "none",
            "blacklist_entry": None,
            "noticed_time": None,
            "grade": None,
            "score": None,
            "graded_entry": None,
        },
    )


def _amended(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    changes = {f: r[f] for f in ("name", "address", "country") if r.get(f) is not None}
    if r.get("roles") is not None:
        changes["roles"] = json_list(r["roles"])
    update(state, "proj_enterprises", (r["uscc"],), updated_entry=index, **changes)


def _revoked(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    update(
        state,
        "proj_enterprises",
        (r["uscc"],),
        status="revoked",
        revoked_entry=index,
        updated_entry=index,
    )


NOT_FILED_YET = New(
    "proj_enterprises",
    ("uscc",),
    lambda r, row: (
        f"enterprise {r.get('uscc')} is already filed (entry {row['filed_entry']}); "
        "record an enterprise.amended instead"
    ),
)

HANDLERS = (
    Handler("enterprise.filed", _filed, references=(NOT_FILED_YET,), owns_row=True),
    Handler("enterprise.amended", _amended, references=(Enterprise(),)),
    Handler("enterprise.revoked", _revoked, references=(Enterprise(),)),
)
