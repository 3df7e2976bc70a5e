"""The serious-dishonesty list: noticed, listed no sooner than 30 days later, removed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.records.handler import Apply, Enterprise, Handler, ItemCheck, enterprise_row, update
from ledger.records.kinds import RecordError
from ledger.records.state import Payload, ProjectionState

BLACKLIST_WAIT = dt.timedelta(days=30)  # 20 days of notice and 10 of defence


def _time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _not_on_it(state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None) -> None:
    uscc = r["uscc"]
    enterprise = enterprise_row(state, uscc, "uscc")
    if enterprise["blacklist"] != "none":
        raise RecordError(f"enterprise {uscc} is already {enterprise['blacklist']}", "uscc")


def _noticed_long_enough(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    uscc = r["uscc"]
    enterprise = enterprise_row(state, uscc, "uscc")
    if enterprise["blacklist"] != "noticed":
        raise RecordError(f"enterprise {uscc} must be noticed before it is listed", "uscc")
    earliest = _time(enterprise["noticed_time"]) + BLACKLIST_WAIT
    if _time(time) < earliest:
        raise RecordError(
            "listing is allowed 30 days after the notice "
            f"(entry {enterprise['blacklist_entry']}), not before {earliest.date()}",
            "blacklist.listed",
        )


def _on_it(state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None) -> None:
    uscc = r["uscc"]
    if enterprise_row(state, uscc, "uscc")["blacklist"] == "none":
        raise RecordError(f"enterprise {uscc} is not on the blacklist", "uscc")


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
        rules=(_on_it,),
        owns_row=True,
    ),
)
