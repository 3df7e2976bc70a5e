"""The grading engine: ``grade(facts, policy, as_of)`` → grade, score, measures, reasons.

A pure function: no clock, no database, no state between calls. The same facts, policy
and date always give the same ``Grading``, and so the same ``reasons_digest`` (SHA-256
of the reasons' RFC 8785 form), which is what a recorded ``credit.graded`` commits to.

Windows are inclusive day ranges that end on the as-of date: a 365-day cycle on
2026-12-31 runs from 2026-01-01, so a violation leaves it on its 366th day.

Imports only the standard library, ``msgspec`` and ``credit``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import msgspec

from credit.facts import Facts, Violation
from credit.policy import CatalogueItem, Condition, GradeRule, Measures, Policy

Window = tuple[dt.date, dt.date]
# Metrics measured over a window of days that ends on the as-of date.
WINDOWED = frozenset(
    {"points", "fines_fen", "item_count", "penalty_permille", "nonconformity_percent"}
)


@dataclass(frozen=True)
class Reason:
    """One rule or fact behind a grade, and the ledger entries behind it."""

    rule: str
    points: int
    window: Window | None
    entries: tuple[int, ...]
    zh: str
    en: str

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "points": self.points,
            "window": None
            if self.window is None
            else {"from": self.window[0].isoformat(), "to": self.window[1].isoformat()},
            "entries": list(self.entries),
            "zh": self.zh,
            "en": self.en,
        }


@dataclass(frozen=True)
class Grading:
    uscc: str
    policy: str
    as_of: dt.date
    grade: str
    score: int  # dishonesty points in the cycle
    rule: str  # the rule that gave the grade
    measures: Measures
    reasons: tuple[Reason, ...]

    @property
    def reasons_digest(self) -> str:
        return digest_reasons(self.reasons)

    def as_json(self) -> dict[str, Any]:
        m = self.measures
        return {
            "uscc": self.uscc,
            "policy": self.policy,
            "as_of": self.as_of.isoformat(),
            "grade": self.grade,
            "score": self.score,
            "rule": self.rule,
            "measures": measures_json(m),
            "reasons": [r.as_json() for r in self.reasons],
            "reasons_digest": self.reasons_digest,
        }


def measures_json(m: Measures) -> dict[str, Any]:
    return {
        "inspection_percent": str(m.inspection_percent),
        "document_review": m.document_review,
        "paperless": m.paperless,
        "green_channel": m.green_channel,
        "targeted_control": m.targeted_control,
        "public_list": m.public_list,
    }


# Reasons hold ASCII keys, text, small integers and null: for such values msgspec's sorted
# encoding is exactly RFC 8785 (what ledger.tlog.jcs.canonicalize checks value by value
# before taking the same path); tests/unit/test_credit_engine.py compares the two.
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def reasons_bytes(reasons: Iterable[Reason]) -> bytes:
    """The RFC 8785 form of the reasons, which ``reasons_digest`` hashes."""
    return _encode_sorted([r.as_json() for r in reasons])


def digest_reasons(reasons: Iterable[Reason]) -> str:
    return base64.b64encode(hashlib.sha256(reasons_bytes(reasons)).digest()).decode()


Value = Fraction | int  # what a metric measures (a bool is an int): exact, never a float


@lru_cache(maxsize=4096)  # a handful of (date, length) pairs per recompute or batch
def window(as_of: dt.date, days: int) -> Window:
    """The ``days`` days that end on ``as_of``, both ends included."""
    return as_of - dt.timedelta(days=days - 1), as_of


def _within(day: dt.date, span: Window) -> bool:
    return span[0] <= day <= span[1]


@dataclass(frozen=True)
class _Context:
    """What every metric of one grading starts from, worked out once."""

    facts: Facts
    policy: Policy
    as_of: dt.date
    counted: tuple[Violation, ...]  # unrevoked, in the catalogue, not after the as-of date
    repaired: frozenset[int]  # violations an approved or automatic repair stops counting
    cycle: Window
    # Each measure once per grading, though several rules ask for it.
    measured: dict[tuple[Any, ...], tuple[Value, tuple[int, ...]]] = field(default_factory=dict)
    # The counted violations within each window asked for, with their catalogue items.
    within: dict[Window, list[tuple[Violation, CatalogueItem]]] = field(default_factory=dict)


def _repaired(
    facts: Facts, policy: Policy, as_of: dt.date, counted: tuple[Violation, ...]
) -> tuple[frozenset[int], list[Reason]]:
    """Violations a repair covers: those recorded before an approved repair's decision,
    and every one when the last is ``automatic_clean_days`` old."""
    reasons: list[Reason] = []
    decided = [r for r in facts.repairs if r.approved and r.decided_entry is not None]
    repaired: set[int] = set()
    if decided:
        last = max(decided, key=lambda r: r.decided_entry or 0)
        assert last.decided_entry is not None
        repaired |= {v.entry for v in counted if v.entry < last.decided_entry}
        reasons.append(
            Reason(
                "repair.approved",
                0,
                None,
                (last.request_entry, last.decided_entry),
                "信用修复已获批准：此前的违规不再计入C级、D级",
                "repair approved: earlier violations no longer count toward C and D",
            )
        )
    clean = policy.repair.automatic_clean_days
    if counted and (as_of - max(v.occurred_on for v in counted)).days >= clean:
        repaired |= {v.entry for v in counted}
        reasons.append(
            Reason(
                "repair.automatic",
                0,
                None,
                (),
                f"连续{clean}天无违规，自动修复",
                f"no violation for {clean} days: repaired automatically",
            )
        )
    return frozenset(repaired), reasons


def _counted_within(ctx: _Context, span: Window) -> list[tuple[Violation, CatalogueItem]]:
    """The counted violations that occurred within ``span``, with their catalogue items."""
    within = ctx.within.get(span)
    if within is None:
        items = ctx.policy.items
        within = ctx.within[span] = [
            (v, items[v.item]) for v in ctx.counted if _within(v.occurred_on, span)
        ]
    return within


def _violations(ctx: _Context, c: Condition) -> list[Violation]:
    within = _counted_within(ctx, window(ctx.as_of, c.window_days or ctx.policy.cycle_days))
    if not within:
        return []
    return [
        v
        for v, item in within
        if not (c.after_repair and v.entry in ctx.repaired)
        and (c.severity is None or item.severity == c.severity)
        and (not c.items or v.item in c.items)
    ]


def _ratio(numerator: int, denominator: int) -> Value:
    """``numerator / denominator`` exactly: an int when it is whole (ints compare with a
    policy's whole thresholds natively, many times faster than Fractions)."""
    whole, rest = divmod(numerator, denominator)
    return whole if rest == 0 else Fraction(numerator, denominator)


def _nonconformity(ctx: _Context) -> tuple[Value, tuple[int, ...]]:
    """Percent of the batches inspected in the cycle whose latest inspection failed."""
    latest: dict[str, tuple[dt.date, int, str]] = {}
    for i in ctx.facts.inspections:
        if _within(i.inspected_on, ctx.cycle):
            seen = (i.inspected_on, i.entry, i.outcome)
            latest[i.batch] = max(latest.get(i.batch, seen), seen)
    failed = tuple(sorted(e for _, e, outcome in latest.values() if outcome == "non_conformant"))
    if not latest:
        return 0, ()
    return _ratio(100 * len(failed), len(latest)), failed


def _days_at_or_above(ctx: _Context, grade: str) -> tuple[Value, tuple[int, ...]]:
    """How long the enterprise has held ``grade`` or better without a break, by its
    recorded grades under this policy."""
    history = [g for g in ctx.facts.grades if g.policy == ctx.policy.id and g.on <= ctx.as_of]
    limit = ctx.policy.rank(grade)
    run = []
    for record in reversed(history):
        if ctx.policy.rank(record.grade) > limit:
            break
        run.append(record)
    if not run:
        return 0, ()
    return (ctx.as_of - run[-1].on).days, tuple(sorted(g.entry for g in run))


def _blacklisted(ctx: _Context) -> tuple[bool, tuple[int, ...]]:
    events = [b for b in ctx.facts.blacklist if b.on <= ctx.as_of]
    if events and events[-1].event == "listed":
        return True, (events[-1].entry,)
    return False, ()


def _penalty_permille(ctx: _Context, c: Condition) -> tuple[Value, tuple[int, ...]]:
    """Penalties (violations with a fine) in the window per thousand declarations in the
    year before it; with no declarations at all, each penalty counts as a thousandth."""
    penalties = [v for v in _violations(ctx, c) if v.fine_fen]
    start = window(ctx.as_of, c.window_days or ctx.policy.cycle_days)[0]
    previous = window(start - dt.timedelta(days=1), 365)
    declared = sum(1 for d in ctx.facts.declarations if _within(d.declared_on, previous))
    return _ratio(1000 * len(penalties), max(declared, 1)), tuple(v.entry for v in penalties)


def _violation_metric(ctx: _Context, c: Condition) -> tuple[Value, tuple[int, ...]]:
    found = _violations(ctx, c)
    entries = tuple(v.entry for v in found)
    if c.metric == "points":
        return sum(ctx.policy.items[v.item].points for v in found), entries
    if c.metric == "fines_fen":
        return sum(v.fine_fen or 0 for v in found), entries
    return len(found), entries


def _filing_age(ctx: _Context, c: Condition) -> tuple[Value, tuple[int, ...]]:
    filed = ctx.facts.filed_on
    age = 0 if filed is None else max(0, (ctx.as_of - filed).days)
    return age, () if ctx.facts.filed_entry is None else (ctx.facts.filed_entry,)


Metric = Callable[[_Context, Condition], tuple[Value, tuple[int, ...]]]
METRIC_FUNCTIONS: dict[str, Metric] = {
    "points": _violation_metric,
    "fines_fen": _violation_metric,
    "item_count": _violation_metric,
    "penalty_permille": _penalty_permille,
    "filing_age_days": _filing_age,
    "nonconformity_percent": lambda ctx, c: _nonconformity(ctx),
    "days_at_or_above": lambda ctx, c: _days_at_or_above(ctx, c.grade or ""),
    "blacklisted": lambda ctx, c: _blacklisted(ctx),
}


def measure(ctx: _Context, c: Condition) -> tuple[Value, tuple[int, ...]]:
    """The value of a condition's metric, and the entries behind it."""
    found = ctx.measured.get(c.measure)
    if found is None:
        found = ctx.measured[c.measure] = METRIC_FUNCTIONS[c.metric](ctx, c)
    return found


def _applies(rule: GradeRule, roles: frozenset[str]) -> bool:
    if rule.roles and not rule.roles & roles:
        return False
    return not rule.except_roles & roles


def _condition_text(c: Condition, value: Value) -> tuple[str, str]:
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    limit = str(c.value).lower() if isinstance(c.value, bool) else str(c.value)
    what = (
        c.metric + (f"[{c.severity}]" if c.severity else "") + (f"[{c.grade}]" if c.grade else "")
    )
    if c.items:
        what += "[" + ",".join(c.items) + "]"
    if c.after_repair:
        what += "[after repair]"
    words = {"at_least": "≥", "above": ">", "below": "<", "at_most": "≤", "is": "="}
    text = f"{what} = {shown} ({words[c.comparison]} {limit})"
    return text, text


def _points(value: Value, c: Condition) -> int:
    return int(value) if c.metric == "points" and not isinstance(value, bool) else 0


def _rule_reasons(ctx: _Context, rule: GradeRule) -> list[Reason] | None:
    """The reasons a rule matches, or None when it does not."""
    if rule.when == "otherwise":
        return [Reason(rule.id, 0, None, (), rule.zh, rule.en)]
    held = []
    for c in rule.conditions:
        value, entries = measure(ctx, c)
        if c.holds(value):
            zh, en = _condition_text(c, value)
            span = (
                window(ctx.as_of, c.window_days or ctx.policy.cycle_days)
                if c.metric in WINDOWED
                else None
            )
            held.append(
                Reason(
                    rule.id,
                    _points(value, c),
                    span,
                    entries,
                    f"{rule.zh}：{zh}",
                    f"{rule.en}: {en}",
                )
            )
        elif rule.when == "all":
            return None
    return held or None


def grade(facts: Facts, policy: Policy, as_of: dt.date) -> Grading:
    """Grade one enterprise on its facts (already cut to a tree size) on ``as_of``."""
    facts = facts.sorted()
    counted = tuple(
        v
        for v in facts.violations
        if v.revoked_entry is None and v.item in policy.items and v.occurred_on <= as_of
    )
    repaired, repair_reasons = _repaired(facts, policy, as_of, counted)
    cycle = window(as_of, policy.cycle_days)
    ctx = _Context(facts, policy, as_of, counted, repaired, cycle)
    roles = frozenset(facts.roles)
    for rule in policy.rules:
        if not _applies(rule, roles):
            continue
        matched = _rule_reasons(ctx, rule)
        if matched is not None:
            break
    else:  # the loader requires a last otherwise rule that applies to everyone
        raise AssertionError(f"{policy.id}: no rule matched")
    in_cycle = _counted_within(ctx, cycle)
    item_reasons = [
        Reason(
            v.item,
            item.points,
            cycle,
            (v.entry,),
            item.zh + ("（已修复）" if v.entry in repaired else ""),
            item.en + (" (repaired)" if v.entry in repaired else ""),
        )
        for v, item in in_cycle
    ]
    return Grading(
        uscc=facts.uscc,
        policy=policy.id,
        as_of=as_of,
        grade=rule.grade,
        score=sum(item.points for _, item in in_cycle),
        rule=rule.id,
        measures=policy.measures[rule.grade],
        reasons=tuple(matched + repair_reasons + item_reasons),
    )
