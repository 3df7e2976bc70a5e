"""Due process as pure rules: when a repair may be requested, who is proposed for the
blacklist, and when a listed enterprise may be removed. Each refusal names the date on
which the step will be allowed, so an officer or enterprise knows when to come back.

Imports only the standard library and ``credit``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from credit.engine import Grading
from credit.facts import Facts
from credit.policy import Policy


@dataclass(frozen=True)
class Refusal:
    """Why a step is refused now, and the first day it will be allowed (None: not by
    waiting alone)."""

    reason: str
    allowed_on: dt.date | None


def _last_violation(facts: Facts) -> dt.date | None:
    counted = [v.occurred_on for v in facts.violations if v.revoked_entry is None]
    return max(counted) if counted else None


def repair_refusal(
    facts: Facts, policy: Policy, current: Grading, today: dt.date
) -> Refusal | None:
    """Why the enterprise may not request credit repair today, or None if it may.

    Only an enterprise at a grade the policy repairs may ask, and only once the wait
    after its last violation is over (by the ground that gave the grade, where the
    policy waits by ground)."""
    if current.grade not in policy.repair.request_grades:
        grades = ", ".join(sorted(policy.repair.request_grades))
        return Refusal(
            f"grade {current.grade} under {policy.id} is not one that repair is for ({grades})",
            None,
        )
    pending = [r for r in facts.repairs if r.decided_entry is None]
    if pending:
        return Refusal(f"repair request {pending[-1].request_entry} is not decided yet", None)
    last = _last_violation(facts)
    wait = policy.repair.ground_wait_days.get(current.rule, policy.repair.wait_days)
    if last is not None:
        allowed = last + dt.timedelta(days=wait)
        if today < allowed:
            return Refusal(
                f"repair may be requested {wait} days after the last violation ({last}), "
                f"not before {allowed}",
                allowed,
            )
    return None


def proposed_for_blacklist(facts: Facts, policy: Policy, current: Grading) -> bool:
    """Whether an officer should consider a ``blacklist.noticed`` (not on the list yet)."""
    if current.grade not in policy.blacklist.propose_grades:
        return False
    return not facts.blacklist or facts.blacklist[-1].event == "removed"


def removal_refusal(facts: Facts, policy: Policy, today: dt.date) -> Refusal | None:
    """Why a listed enterprise may not be removed today: it must be listed, and clean
    (no violation) for the policy's removal period."""
    if not facts.blacklist or facts.blacklist[-1].event != "listed":
        return Refusal("the enterprise is not listed", None)
    clean_from = max(
        [facts.blacklist[-1].on, *(v for v in [_last_violation(facts)] if v is not None)]
    )
    allowed = clean_from + dt.timedelta(days=policy.blacklist.removal_clean_days)
    if today < allowed:
        return Refusal(
            f"removal needs {policy.blacklist.removal_clean_days} clean days after the "
            f"listing and the last violation ({clean_from}), not before {allowed}",
            allowed,
        )
    return None
