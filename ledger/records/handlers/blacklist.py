"""The serious-dishonesty list, under due process: exactly none → noticed → listed → none.

``blacklist.noticed`` only for an enterprise not on the list; ``blacklist.listed`` only
for a noticed one, at least 30 days after the notice; ``blacklist.removed`` only for a
listed one. Every other step is refused, saying the current state and what is required.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.records.handler import Apply, Enterprise, Handler, ItemCheck, enterprise_row, update
from ledger.records.kinds import RecordError
from ledger.records.state import Payload, ProjectionState

BLACKLIST_WAIT = dt.timedelta(days=30)  # 20 days of notice and 10 of defence


def _time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def listing_allowed_from(noticed_time: str) -> dt.datetime:
    """The earliest moment a noticed enterprise may be listed (UTC)."""
    return _time(noticed_time) + BLACKLIST_WAIT


def _standing(state: ProjectionState, uscc: str) -> tuple[str, str]:
    """The enterprise's blacklist state and how it got there, for a refusal's message."""
    enterprise = enterprise_row(state, uscc, "uscc")
    standing = enterprise["blacklist"]
    if standing == "none":
        return standing, "not on the blacklist"
    return standing, f"{standing} (entry {enterprise['blacklist_entry']})"


def _not_on_it(state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None) -> None:
    uscc = r["uscc"]
    standing, described = _standing(state, uscc)
    if standing != "none":
        step = (
            "the next step is blacklist.listed, 30 days after the notice"
            if standing == "noticed"
            else "the next step is blacklist.removed"
        )
        raise RecordError(
            f"enterprise {uscc} is already {described}: blacklist.noticed requires an "
            f"enterprise not on the blacklist; {step}",
            "uscc",
        )


def _noticed_long_enough(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    uscc = r["uscc"]
    standing, described = _standing(state, uscc)
    if standing != "noticed":
        raise RecordError(
            f"enterprise {uscc} is {'already ' if standing == 'listed' else ''}{described}: "
            "blacklist.listed requires a blacklist.noticed at least 30 days before, "
            "and no listing since; it must be noticed before it is listed",
            "uscc",
        )
    enterprise = enterprise_row(state, uscc, "uscc")
    earliest = listing_allowed_from(enterprise["noticed_time"])
    if _time(time) < earliest:
        raise RecordError(
            "listing is allowed 30 days after the notice "
            f"(entry {enterprise['blacklist_entry']}), not before {earliest.date()}",
            "blacklist.listed",
        )


def _listed(state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None) -> None:
    uscc = r["uscc"]
    standing, described = _standing(state, uscc)
    if standing != "listed":
        raise RecordError(
            f"enterprise {uscc} is {described}, not listed: blacklist.removed requires a "
            "blacklist.listed (a notice alone is not a listing)",
            "uscc",
        )


def _event(event: str, **enterprise: Any) -> Apply:
    """Log the event and set the standing (``noticed_time=True`` means the entry's time)."""

    def apply(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
        state.insert(
            "proj_blacklist_events",
            {
                "entry": index,
                "uscc": r["uscc"],
                "event": event,
                "reason": r["reason"],
                "basis": r.get("basis"),
                "time": time,
            },
        )
        changes = {k: time if v is True else v for k, v in enterprise.items()}
        update(state, "proj_enterprises", (r["uscc"],), blacklist_entry=index, **changes)

    return apply


HANDLERS = (
    Handler(
        "blacklist.noticed",
        _event("noticed", blacklist="noticed", noticed_time=True),
        references=(Enterprise(),),
        rules=(_not_on_it,),
        owns_row=True,
    ),
    Handler(
        "blacklist.listed",
        _event("listed", blacklist="listed"),
        references=(Enterprise(),),
        rules=(_noticed_long_enough,),
        owns_row=True,
    ),
    Handler(
        "blacklist.removed",
        _event("removed", blacklist="none", noticed_time=None),
        references=(Enterprise(),),
        rules=(_listed,),
        owns_row=True,
    ),
)
