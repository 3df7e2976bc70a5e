"""Disclosure rules: which facts the public may see, and for how long (the policy's windows).

``is_disclosed`` is the rule for one violation; ``public_blacklist`` for an enterprise's
blacklist standing; ``withheld_reason`` applies the rules to one ledger entry's payload
(its kind, its payload and what later entries did to it, in ``DisclosureFacts``);
``disclosure_facts`` reads those facts for a run of entries. The ledger keeps everything;
only what the public is shown is filtered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from credit.catalogue import Policy, load_policy
from ledger.records.tables import LIVE

# Facts the public always sees: who is filed, what is sold, what was inspected or
# recalled, which codes are genuine, the grades and sanctions the law lists publicly,
# the draws (双随机、一公开) and the redactions themselves.
ALWAYS_PUBLIC = frozenset(
    {
        "enterprise.filed",
        "enterprise.amended",
        "enterprise.revoked",
        "product.filed",
        "product.revoked",
        "batch.declared",
        "inspection.result",
        "recall.issued",
        "recall.closed",
        "codes.issued",
        "codes.revoked",
        "credit.graded",
        "sanction.yellow_card",
        "sanction.interview",
        "blacklist.removed",
        "draw.requested",
        "draw.made",
        "entry.redacted",
    }
)
# A blacklist notice opens due process (20 days' notice, then 10 of defence) and may
# end without a listing: publishing it would list the enterprise before it could answer.
# The public sees the listing only, until its removal; officers, auditors and the
# enterprise itself see the notice.
NOTICE_NOT_PUBLIC = (
    "a blacklist notice opens due process and is not published; only a listing is, "
    "until it is removed"
)
# Kinds never shown to the public, with the reason a withheld payload carries.
NEVER_PUBLIC = {
    "blacklist.noticed": NOTICE_NOT_PUBLIC,
    "complaint.received": "complaints are not published (a verified one is a minor item)",
    "complaint.verified": "complaints are not published (a verified one is a minor item)",
    "credit.repair_requested": "credit repair proceedings are not published",
    "credit.repair_decided": "credit repair proceedings are not published",
}
BLACKLIST_STEPS = frozenset({"blacklist.listed"})


def public_blacklist(standing: str) -> str:
    """The blacklist standing (none, noticed, listed) as the public is shown it: a notice
    is not published, so a noticed enterprise shows ``none``."""
    return "listed" if standing == "listed" else "none"


def is_disclosed(
    severity: str | None, occurred_on: dt.date, today: dt.date, policy: Policy | None = None
) -> bool:
    """Whether a violation of ``severity`` that occurred on ``occurred_on`` is public today."""
    windows = (policy or load_policy()).disclose_days
    days = windows.get(severity or "", 0)  # unknown severity or item: never shown
    return days > 0 and today < occurred_on + dt.timedelta(days=days)


@dataclass(frozen=True)
class ViolationFact:
    item: str
    occurred_on: dt.date
    revoked: bool


@dataclass(frozen=True)
class DisclosureFacts:
    """What later entries did to the entries being shown."""

    violations: Mapping[int, ViolationFact] = field(default_factory=dict)  # by entry
    last_removal: Mapping[str, int] = field(default_factory=dict)  # uscc -> blacklist.removed


def _violation_reason(fact: ViolationFact, today: dt.date, policy: Policy) -> str | None:
    item = policy.item(fact.item)
    if item is None:
        return f"item {fact.item} is not in the {policy.id} catalogue: not published"
    if not is_disclosed(item.severity, fact.occurred_on, today, policy):
        days = policy.disclose_days.get(item.severity, 0)
        if days <= 0:
            return f"a {item.severity} violation ({fact.item}) is never published"
        return (
            f"a {item.severity} violation ({fact.item}) is published for {days} days "
            f"from {fact.occurred_on.isoformat()}; that window has closed"
        )
    return None


def _violation_of(payload: Mapping[str, Any]) -> ViolationFact | None:
    try:
        return ViolationFact(
            str(payload["item"]), dt.date.fromisoformat(str(payload["occurred_on"])), False
        )
    except (KeyError, ValueError):
        return None


def _recorded(index: int, payload: Mapping[str, Any], facts: DisclosureFacts) -> ViolationFact:
    fact = facts.violations.get(index) or _violation_of(payload)
    # Unreadable: shown as an item no catalogue has, which is never published.
    return fact or ViolationFact("(unreadable)", dt.date.min, False)


def _blacklist_reason(index: int, payload: Mapping[str, Any], facts: DisclosureFacts) -> str | None:
    removal = facts.last_removal.get(str(payload.get("uscc", "")))
    if removal is not None and removal > index:
        return f"the blacklisting was ended by entry {removal}: published until removed"
    return None


def withheld_reason(
    kind: str,
    index: int,
    payload: Mapping[str, Any],
    facts: DisclosureFacts,
    *,
    today: dt.date,
    policy: Policy,
) -> str | None:
    """Why the public may not see this entry's payload today; None when it may."""
    if kind in ALWAYS_PUBLIC:
        return None
    if kind == "violation.recorded":
        fact = _recorded(index, payload, facts)
        if fact.revoked:
            return "the violation was revoked: not published"
        return _violation_reason(fact, today, policy)
    if kind == "violation.revoked":
        # A revocation tells as much as the violation it revokes: it follows its rule.
        target = facts.violations.get(int(payload.get("entry", -1)))
        reason = (
            "the revoked violation is unknown"
            if target is None
            else _violation_reason(target, today, policy)
        )
        return None if reason is None else f"it revokes a violation that is not public: {reason}"
    if kind in BLACKLIST_STEPS:
        return _blacklist_reason(index, payload, facts)
    return NEVER_PUBLIC.get(kind, f"{kind} is not among the kinds the disclosure rules publish")


def disclosure_facts(conn: Connection, entries: Iterable[tuple[int, str, Any]]) -> DisclosureFacts:
    """The facts ``withheld_reason`` needs for ``entries`` ((index, kind, payload)), read
    from the projections in the caller's snapshot."""
    violation_entries: set[int] = set()
    usccs: set[str] = set()
    for index, kind, payload in entries:
        if kind == "violation.recorded":
            violation_entries.add(index)
        elif kind == "violation.revoked" and isinstance(payload, Mapping):
            target = payload.get("entry")
            if isinstance(target, int):
                violation_entries.add(target)
        elif kind in BLACKLIST_STEPS and isinstance(payload, Mapping):
            usccs.add(str(payload.get("uscc", "")))
    violations: dict[int, ViolationFact] = {}
    if violation_entries:
        table = LIVE["proj_violations"]
        rows = conn.execute(
            select(table.c.entry, table.c.item, table.c.occurred_on, table.c.revoked_entry).where(
                table.c.entry.in_(sorted(violation_entries))
            )
        )
        for entry, item, occurred_on, revoked_entry in rows:
            violations[int(entry)] = ViolationFact(
                str(item), dt.date.fromisoformat(str(occurred_on)), revoked_entry is not None
            )
    last_removal: dict[str, int] = {}
    if usccs:
        events = LIVE["proj_blacklist_events"]
        removals = conn.execute(
            select(events.c.uscc, func.max(events.c.entry))
            .where(events.c.uscc.in_(sorted(usccs)), events.c.event == "removed")
            .group_by(events.c.uscc)
        )
        last_removal = {str(uscc): int(entry) for uscc, entry in removals}
    return DisclosureFacts(violations, last_removal)
