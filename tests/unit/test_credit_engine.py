"""The grading engine: every boundary of DESIGN's cn-ciq-2014 tables, a cn-gacc-2026
table, repair and blacklist timing, and determinism (same inputs, same bytes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit.disclosure import is_disclosed
from credit.due_process import proposed_for_blacklist, removal_refusal, repair_refusal
from credit.engine import Grading, grade, reasons_bytes
from credit.facts import (
    BlacklistEvent,
    Declaration,
    Facts,
    GradeRecord,
    Inspection,
    Repair,
    Violation,
)
from credit.policy import POLICY_DIR, Policy, load_policy, parse_policy
from ledger.tlog.jcs import canonicalize

CIQ = load_policy("cn-ciq-2014")
GACC = load_policy("cn-gacc-2026")
AS_OF = dt.date(2026, 6, 30)
ROOT = Path(__file__).resolve().parents[2]


def days_ago(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def v(entry: int, item: str, ago: int = 10, **fields: object) -> Violation:
    return Violation(entry, item, days_ago(ago), **fields)  # type: ignore[arg-type]


def history(grade_id: str = "A", ago: int = 400, policy: str = "cn-ciq-2014") -> GradeRecord:
    return GradeRecord(900, grade_id, policy, days_ago(ago))


def facts(**fields: object) -> Facts:
    """A long-filed enterprise graded A for over a year, with ``fields`` changed."""
    base = Facts("91440300MA5XXXXXX1", days_ago(2000), 0, ("importer",), grades=(history(),))
    return replace(base, **fields)  # type: ignore[arg-type]


def inspections(total: int, failed: int) -> tuple[Inspection, ...]:
    return tuple(
        Inspection(1000 + i, f"b{i}", "non_conformant" if i < failed else "conformant", days_ago(5))
        for i in range(total)
    )


MINOR1, MINOR2 = "ciq.declaration-error", "ciq.late-declaration"
GENERAL, SERIOUS = "ciq.evade-inspection", "ciq.adulteration"


def points(n: int) -> tuple[Violation, ...]:
    """Violations worth exactly ``n`` points, none serious: generals of 6, then minors."""
    found = [v(10 + i, GENERAL) for i in range(n // 6)]
    rest = n % 6
    found += [v(50 + i, MINOR2) for i in range(rest // 2)]
    found += [v(80, MINOR1)] if rest % 2 else []
    return tuple(found)


# A copy of cn-ciq-2014 with a 1-point serious item, to stand on 11/12 and 35/36 exactly.
ONE_POINT = parse_policy(
    (POLICY_DIR / "cn-ciq-2014.toml").read_text(encoding="utf-8")
    + '\n[[item]]\nid = "test.serious-1"\nzh = "测试"\nen = "test"\nseverity = "serious"\n'
    'points = 1\nbasis = "test"\n',
    "cn-ciq-2014.toml",
)


def serious(n: int) -> tuple[Violation, ...]:
    return tuple(v(200 + i, "test.serious-1") for i in range(n))


CIQ_TABLE: list[tuple[str, Facts, str, Policy]] = [
    ("clean, A for a year: AA", facts(), "AA", CIQ),
    ("0 points but graded A only 364 days", facts(grades=(history(ago=364),)), "A", CIQ),
    ("graded A exactly 365 days", facts(grades=(history(ago=365),)), "AA", CIQ),
    (
        "graded B until 100 days ago",
        facts(grades=(history(ago=400), replace(history("B", 100), entry=901))),
        "A",
        CIQ,
    ),
    (
        "graded AA then A: still A or better",
        facts(grades=(history("AA", 800), replace(history("A", 100), entry=901))),
        "AA",
        CIQ,
    ),
    ("5 points", facts(violations=points(5)), "A", CIQ),
    ("6 points", facts(violations=points(6)), "B", CIQ),
    ("23 points", facts(violations=points(23)), "B", CIQ),
    ("24 points", facts(violations=points(24)), "C", CIQ),
    ("11 serious points", facts(violations=serious(11)), "B", ONE_POINT),
    ("12 serious points", facts(violations=serious(12)), "C", ONE_POINT),
    ("35 serious points", facts(violations=serious(35)), "C", ONE_POINT),
    ("36 serious points", facts(violations=serious(36)), "D", ONE_POINT),
    (
        "three serious items: 36 points",
        facts(violations=tuple(v(i, SERIOUS) for i in range(3))),
        "D",
        CIQ,
    ),
    ("filed 179 days ago", facts(filed_on=days_ago(179)), "B", CIQ),
    ("filed 180 days ago", facts(filed_on=days_ago(180)), "AA", CIQ),
    ("1 % non-conforming", facts(inspections=inspections(100, 1)), "AA", CIQ),
    ("just over 1 % non-conforming", facts(inspections=inspections(199, 2)), "A", CIQ),
    ("5 % non-conforming", facts(inspections=inspections(100, 5)), "A", CIQ),
    ("just over 5 % non-conforming", facts(inspections=inspections(399, 20)), "B", CIQ),
    ("a point 3 years ago less a day", facts(violations=(v(1, MINOR1, 1094),)), "A", CIQ),
    ("a point 3 years ago", facts(violations=(v(1, MINOR1, 1095),)), "AA", CIQ),
    ("serious on its 365th day in the cycle", facts(violations=(v(1, SERIOUS, 364),)), "C", CIQ),
    ("serious on its 366th day: left the cycle", facts(violations=(v(1, SERIOUS, 365),)), "A", CIQ),
    ("revoked serious violation", facts(violations=(v(1, SERIOUS, revoked_entry=5),)), "AA", CIQ),
    (
        "violation not yet occurred on the as-of date",
        facts(violations=(v(1, SERIOUS, -1),)),
        "AA",
        CIQ,
    ),
    (
        "on the blacklist",
        facts(
            blacklist=(
                BlacklistEvent(7, "noticed", days_ago(40)),
                BlacklistEvent(8, "listed", days_ago(5)),
            )
        ),
        "D",
        CIQ,
    ),
    ("noticed only", facts(blacklist=(BlacklistEvent(7, "noticed", days_ago(40)),)), "AA", CIQ),
    (
        "listed and removed",
        facts(
            blacklist=(
                BlacklistEvent(7, "noticed", days_ago(90)),
                BlacklistEvent(8, "listed", days_ago(50)),
                BlacklistEvent(9, "removed", days_ago(1)),
            )
        ),
        "AA",
        CIQ,
    ),
    (
        "approved repair: 36 serious points no longer count toward C and D",
        facts(violations=tuple(v(i, SERIOUS) for i in range(3)), repairs=(Repair(20, 21, True),)),
        "B",
        CIQ,
    ),
    (
        "refused repair changes nothing",
        facts(violations=tuple(v(i, SERIOUS) for i in range(3)), repairs=(Repair(20, 21, False),)),
        "D",
        CIQ,
    ),
    (
        "a violation recorded after the repair still counts",
        facts(
            violations=(*tuple(v(i, SERIOUS) for i in range(2)), v(30, SERIOUS)),
            repairs=(Repair(20, 21, True),),
        ),
        "C",
        CIQ,
    ),
    ("unknown item: ignored by the policy", facts(violations=(v(1, "gacc.smuggling"),)), "AA", CIQ),
]


@pytest.mark.parametrize(
    ("name", "given_facts", "expected", "policy"), CIQ_TABLE, ids=[r[0] for r in CIQ_TABLE]
)
def test_ciq_2014_scenarios(name: str, given_facts: Facts, expected: str, policy: Policy) -> None:
    result = grade(given_facts, policy, AS_OF)
    assert result.grade == expected, json.dumps(result.as_json(), ensure_ascii=False, indent=1)
    assert result.measures == policy.measures[expected]


def test_reasons_name_rule_points_window_and_entries() -> None:
    result = grade(facts(violations=(v(4, SERIOUS), v(5, GENERAL))), CIQ, AS_OF)
    assert (result.grade, result.score, result.rule) == ("C", 18, "ciq.c")
    first = result.reasons[0].as_json()
    assert first["rule"] == "ciq.c"
    assert first["points"] == 12
    assert first["entries"] == [4]
    assert first["window"] == {"from": "2025-07-01", "to": "2026-06-30"}
    items = {r.rule: r for r in result.reasons[1:]}
    assert items[SERIOUS].entries == (4,) and items[SERIOUS].points == 12
    assert items[GENERAL].entries == (5,) and items[GENERAL].points == 6


def test_automatic_repair_after_two_clean_years() -> None:
    old = facts(violations=(v(1, MINOR1, 730),))
    assert "repair.automatic" in [r.rule for r in grade(old, CIQ, AS_OF).reasons]
    recent = facts(violations=(v(1, MINOR1, 729),))
    assert "repair.automatic" not in [r.rule for r in grade(recent, CIQ, AS_OF).reasons]


def test_facts_up_to_a_tree_size_undo_later_entries() -> None:
    later = facts(
        violations=(v(3, SERIOUS, revoked_entry=10), v(12, SERIOUS)),
        repairs=(Repair(4, 11, True),),
        grades=(replace(history(), entry=1),),
    )
    assert grade(later.up_to(5), CIQ, AS_OF).grade == "C"  # revocation and repair not yet
    assert grade(later.up_to(11), CIQ, AS_OF).grade == "AA"  # revoked, the second not yet
    assert grade(later.up_to(13), CIQ, AS_OF).grade == "C"
    assert later.up_to(0).filed_on is None


GACC_FACTS = replace(facts(grades=(history("certified", 400, "cn-gacc-2026"),)))


def gacc(**fields: object) -> Facts:
    return replace(GACC_FACTS, **fields)  # type: ignore[arg-type]


def declarations(n: int) -> tuple[Declaration, ...]:
    return tuple(Declaration(5000 + i, days_ago(400)) for i in range(n))


def fined(n: int, fen: int) -> tuple[Violation, ...]:
    return tuple(v(300 + i, "gacc.declaration-violation", fine_fen=fen) for i in range(n))


YUAN = 100
GACC_TABLE: list[tuple[str, Facts, str]] = [
    ("clean, certified a year: advanced", gacc(), "advanced"),
    (
        "clean, certified 364 days",
        gacc(grades=(history("certified", 364, "cn-gacc-2026"),)),
        "certified",
    ),
    ("filed 364 days ago", gacc(filed_on=days_ago(364), grades=()), "routine"),
    ("filed 365 days ago", gacc(filed_on=days_ago(365), grades=()), "certified"),
    ("one minor violation", gacc(violations=(v(1, "gacc.declaration-violation"),)), "routine"),
    ("smuggling", gacc(violations=(v(1, "gacc.smuggling"),)), "dishonest"),
    ("obstruction", gacc(violations=(v(1, "ciq.obstruction"),)), "dishonest"),
    ("tax unpaid over 3 months", gacc(violations=(v(1, "gacc.tax-unpaid"),)), "dishonest"),
    ("fine unpaid over 6 months", gacc(violations=(v(1, "gacc.fine-unpaid"),)), "dishonest"),
    (
        "two serious offences",
        gacc(violations=(v(1, "gacc.smuggling"), v(2, "ciq.obstruction"))),
        "seriously_dishonest",
    ),
    (
        "blacklisted",
        gacc(blacklist=(BlacklistEvent(8, "listed", days_ago(5)),)),
        "seriously_dishonest",
    ),
    (
        "penalties 2 per mille, fines over 1,000,000 yuan",
        gacc(declarations=declarations(1000), violations=fined(2, 500_001 * YUAN)),
        "dishonest",
    ),
    (
        "penalties exactly 1 per mille",
        gacc(declarations=declarations(2000), violations=fined(2, 600_000 * YUAN)),
        "routine",
    ),
    (
        "fines exactly 1,000,000 yuan",
        gacc(declarations=declarations(1000), violations=fined(2, 500_000 * YUAN)),
        "routine",
    ),
    (
        "a customs broker: 0.6 per mille and 300,001 yuan",
        gacc(
            roles=("customs_broker",),
            declarations=declarations(5000),
            violations=fined(3, 100_001 * YUAN),
        ),
        "dishonest",
    ),
    (
        "an importer at the broker's figures",
        gacc(declarations=declarations(5000), violations=fined(3, 100_001 * YUAN)),
        "routine",
    ),
]


@pytest.mark.parametrize(
    ("name", "given_facts", "expected"), GACC_TABLE, ids=[r[0] for r in GACC_TABLE]
)
def test_gacc_2026_scenarios(name: str, given_facts: Facts, expected: str) -> None:
    result = grade(given_facts, GACC, AS_OF)
    assert result.grade == expected, json.dumps(result.as_json(), ensure_ascii=False, indent=1)


def test_repair_request_waits_180_days_after_the_last_violation() -> None:
    d = facts(violations=tuple(v(i, SERIOUS, 100 + i) for i in range(3)))
    current = grade(d, CIQ, AS_OF)
    assert current.grade == "D"
    refusal = repair_refusal(d, CIQ, current, AS_OF)
    assert refusal is not None
    assert refusal.allowed_on == days_ago(100) + dt.timedelta(days=180)
    assert f"not before {refusal.allowed_on}" in refusal.reason
    assert repair_refusal(d, CIQ, current, refusal.allowed_on - dt.timedelta(days=1)) is not None
    assert repair_refusal(d, CIQ, current, refusal.allowed_on) is None
    pending = replace(d, repairs=(Repair(30),))
    assert (
        "not decided"
        in (repair_refusal(pending, CIQ, current, refusal.allowed_on) or refusal).reason
    )
    a = grade(facts(), CIQ, AS_OF)
    refused = repair_refusal(facts(), CIQ, a, AS_OF)
    assert refused is not None and refused.allowed_on is None and "AA" in refused.reason


def test_gacc_repair_waits_by_ground() -> None:
    offence = gacc(violations=(v(1, "gacc.smuggling", 10),))
    current = grade(offence, GACC, AS_OF)
    refusal = repair_refusal(offence, GACC, current, AS_OF)
    assert refusal is not None and refusal.allowed_on == days_ago(10) + dt.timedelta(days=365)
    penalties = gacc(declarations=declarations(1000), violations=fined(2, 500_001 * YUAN))
    current = grade(penalties, GACC, AS_OF)
    refusal = repair_refusal(penalties, GACC, current, AS_OF)
    assert refusal is not None and refusal.allowed_on == days_ago(10) + dt.timedelta(days=180)


def test_blacklist_proposal_and_removal_timing() -> None:
    d = facts(violations=tuple(v(i, SERIOUS, 200) for i in range(3)))
    assert proposed_for_blacklist(d, CIQ, grade(d, CIQ, AS_OF))
    assert not proposed_for_blacklist(facts(), CIQ, grade(facts(), CIQ, AS_OF))
    listed = replace(
        d,
        blacklist=(
            BlacklistEvent(7, "noticed", days_ago(60)),
            BlacklistEvent(8, "listed", days_ago(30)),
        ),
    )
    assert not proposed_for_blacklist(listed, CIQ, grade(listed, CIQ, AS_OF))
    refusal = removal_refusal(listed, CIQ, AS_OF)
    assert refusal is not None and refusal.allowed_on == days_ago(30) + dt.timedelta(days=180)
    assert removal_refusal(listed, CIQ, days_ago(30) + dt.timedelta(days=179)) is not None
    assert removal_refusal(listed, CIQ, days_ago(30) + dt.timedelta(days=180)) is None
    assert removal_refusal(d, CIQ, AS_OF) == removal_refusal(facts(), CIQ, AS_OF)


@pytest.mark.parametrize(("severity", "days"), [("general", 365), ("serious", 1095)])
def test_disclosure_first_and_last_day(severity: str, days: int) -> None:
    occurred = dt.date(2026, 1, 1)
    assert is_disclosed(severity, occurred, occurred, CIQ)  # first day
    assert is_disclosed(severity, occurred, occurred + dt.timedelta(days=days - 1), CIQ)  # last
    assert not is_disclosed(severity, occurred, occurred + dt.timedelta(days=days), CIQ)
    assert not is_disclosed("minor", occurred, occurred, CIQ)


# --- properties and determinism ---------------------------------------------------------

ITEMS = sorted(CIQ.items)
violations = st.lists(
    st.builds(
        Violation,
        st.integers(1, 500),
        st.sampled_from(ITEMS),
        st.dates(days_ago(1200), AS_OF),
        st.none() | st.integers(0, 10**9),
        st.none() | st.integers(501, 600),
    ),
    max_size=12,
    unique_by=lambda x: x.entry,
)
fact_sets = st.builds(
    lambda vs, filed, failed, listed: facts(
        violations=tuple(vs),
        filed_on=days_ago(filed),
        inspections=inspections(50, failed),
        blacklist=(BlacklistEvent(700, "listed", days_ago(3)),) if listed else (),
    ),
    violations,
    st.integers(0, 800),
    st.integers(0, 50),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(fact_sets, st.sampled_from(ITEMS), st.integers(0, 364))
def test_one_more_violation_never_improves_the_grade(base: Facts, item: str, ago: int) -> None:
    before = grade(base, CIQ, AS_OF)
    worse = replace(base, violations=(*base.violations, v(999, item, ago)))
    after = grade(worse, CIQ, AS_OF)
    assert CIQ.rank(after.grade) >= CIQ.rank(before.grade)
    assert after.score == before.score + CIQ.items[item].points


@settings(max_examples=100, deadline=None)
@given(fact_sets)
def test_the_order_facts_arrive_in_does_not_matter(base: Facts) -> None:
    shuffled = replace(base, violations=tuple(reversed(base.violations)))
    assert grade(shuffled, CIQ, AS_OF).as_json() == grade(base, CIQ, AS_OF).as_json()


def test_facts_in_entry_order_are_graded_as_they_are_and_others_sorted_first() -> None:
    ordered = Facts(
        "91440300MA5TEST001",
        days_ago(900),
        1,
        ("exporter", "importer"),
        violations=(v(10, ITEMS[0], 5), v(11, ITEMS[1], 3)),
        inspections=(
            Inspection(20, "b1", "conformant", days_ago(4)),
            Inspection(21, "b2", "non_conformant", days_ago(9)),
        ),
        declarations=(Declaration(30, days_ago(7)), Declaration(31, days_ago(8))),
        blacklist=(
            BlacklistEvent(40, "noticed", days_ago(40)),
            BlacklistEvent(41, "removed", days_ago(2)),
        ),
        repairs=(Repair(50, 52, True), Repair(51)),
        grades=(
            GradeRecord(60, "A", CIQ.id, days_ago(300)),
            GradeRecord(61, "B", CIQ.id, days_ago(30)),
        ),
    )
    assert ordered.sorted() is ordered
    expected = grade(ordered, CIQ, AS_OF).as_json()
    for name in (
        "roles",
        "violations",
        "inspections",
        "declarations",
        "blacklist",
        "repairs",
        "grades",
    ):
        reversed_field: dict[str, Any] = {name: tuple(reversed(getattr(ordered, name)))}
        shuffled = replace(ordered, **reversed_field)
        assert shuffled.sorted() == ordered, name
        assert grade(shuffled, CIQ, AS_OF).as_json() == expected, name


def corpus_digest() -> str:
    """SHA-256 over the gradings of every scenario above, in both policies."""
    outputs: list[Grading] = [grade(f, p, AS_OF) for _, f, _, p in CIQ_TABLE]
    outputs += [grade(f, GACC, AS_OF) for _, f, _ in GACC_TABLE]
    body = json.dumps([g.as_json() for g in outputs], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def test_grading_is_deterministic_across_processes_and_hash_seeds() -> None:
    here = corpus_digest()
    assert corpus_digest() == here
    code = "from tests.unit.test_credit_engine import corpus_digest; print(corpus_digest())"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == here


def test_the_reasons_digest_hashes_their_rfc8785_form() -> None:
    for _, given_facts, _, policy in CIQ_TABLE:
        reasons = grade(given_facts, policy, AS_OF).reasons
        assert reasons_bytes(reasons) == canonicalize([r.as_json() for r in reasons])


def test_changing_one_fact_changes_the_digest() -> None:
    one = grade(facts(violations=(v(1, GENERAL),)), CIQ, AS_OF)
    other = grade(facts(violations=(v(2, GENERAL),)), CIQ, AS_OF)
    assert one.grade == other.grade and one.reasons_digest != other.reasons_digest


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 60), st.integers(0, 5), st.integers(0, 400))
def test_grade_follows_the_design_table_for_any_points(
    general_and_minor: int, serious_items: int, filed_days: int
) -> None:
    """The DESIGN table as a formula, against the engine, over random point totals."""
    found = points(general_and_minor) + tuple(v(700 + i, SERIOUS) for i in range(serious_items))
    result = grade(facts(violations=found, filed_on=days_ago(filed_days)), CIQ, AS_OF)
    serious_points = 12 * serious_items
    total = general_and_minor + serious_points
    if serious_points >= 36:
        expected = "D"
    elif total >= 24 or serious_points >= 12:
        expected = "C"
    elif total >= 6 or filed_days < 180:
        expected = "B"
    elif total == 0:
        expected = "AA"
    else:
        expected = "A"
    assert (result.grade, result.score) == (expected, total)
