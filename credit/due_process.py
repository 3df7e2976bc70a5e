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
    """Why a step is refused now, in English and in Chinese like every reason the
    officers and enterprises read, and the first day it will be allowed (None: not by
    waiting alone)."""

    reason: str
    reason_zh: str
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
            f"{policy.id} 的 {current.grade} 级不适用信用修复（适用：{grades}）",
            None,
        )
    pending = [r for r in facts.repairs if r.decided_entry is None]
    if pending:
        entry = pending[-1].request_entry
        return Refusal(
            f"repair request {entry} is not decided yet",
            f"信用修复申请（条目 {entry}）尚未决定",
            None,
        )
    last = _last_violation(facts)
    wait = policy.repair.ground_wait_days.get(current.rule, policy.repair.wait_days)
    if last is not None:
        allowed = last + dt.timedelta(days=wait)
        if today < allowed:
            return Refusal(
                f"repair may be requested {wait} days after the last violation ({last}), "
                f"not before {allowed}",
                f"最后一次违法（{last}）满 {wait} 天后方可申请信用修复，即 {allowed} 起",
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
        return Refusal("the enterprise is not listed", "该企业未列入名单", None)
    clean_from = max(
        [facts.blacklist[-1].on, *(v for v in [_last_violation(facts)] if v is not None)]
    )
    allowed = clean_from + dt.timedelta(days=policy.blacklist.removal_clean_days)
    if today < allowed:
        days = policy.blacklist.removal_clean_days
        return Refusal(
            f"removal needs {days} clean days after the "
            f"listing and the last violation ({clean_from}), not before {allowed}",
            f"列入名单及最后一次违法（{clean_from}）后须 {days} 天无违法方可移出，即 {allowed} 起",
            allowed,
        )
    return None
