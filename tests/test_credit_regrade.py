"""Dynamic regrading: a record that changes an enterprise's facts regrades it in the same
append transaction, a changed grade is a ``credit.graded`` entry of that batch (actor
``system:credit``), a batch regrades each enterprise once, recorded grades verify against
the facts, and the repair and removal rules name the day they will allow the step."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

from credit.recompute import recompute, regrader_of, verify_grades
from credit.regrade import CREDIT_ACTOR, credit_hooks
from ledger.records.entry import record_entry
from ledger.records.kinds import parse_record, record_date
from ledger.records.projector import replay
from ledger.store.engine import read_transaction
from ledger.store.entries import BatchResult, NewEntry
from ledger.store.log import Ledger
from ledger.tlog.envelope import parse_envelope
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, redaction, uscc

OFFICER = "officer:test"
A = uscc(1)


@pytest.fixture
def graded(engine: Engine, signer: Signer) -> Ledger:
    return Ledger(engine, signer, ORIGIN, hooks=credit_hooks())


def rec(kind: str, payload: dict[str, Any], time: str) -> NewEntry:
    return record_entry(kind, payload, OFFICER, time)


def violation(n: int, item: str, occurred_on: str, who: str = A) -> dict[str, Any]:
    return {"uscc": who, "item": item, "occurred_on": occurred_on, "case_no": f"C-{n}"}


def appended(ledger: Ledger, result: BatchResult) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, actor, payload) of each entry the batch wrote, in order."""
    out = []
    for e in ledger.entries(result.first_index, result.first_index + len(result.leaf_hashes)):
        envelope = parse_envelope(e.leaf_input)
        assert e.payload is not None
        out.append((envelope.kind, envelope.actor, json.loads(e.payload)))
    return out


PRODUCT = {
    "gtin": "06901234567892",
    "name": "奶粉",
    "hs_code": "040210",
    "origin_country": "NZ",
    "owner_uscc": A,
    "risk_class": "low",
}


def declaration(batch: str, declarant: str, n: int) -> dict[str, Any]:
    """A ``batch.declared`` payload of PRODUCT's batch ``batch``."""
    return {
        "gtin": PRODUCT["gtin"],
        "batch": batch,
        "quantity": 10,
        "produced_on": "2025-12-01",
        "port": "CNSZX",
        "declaration_no": f"D{n}",
        "declarant_uscc": declarant,
    }


def failed_inspection(time: str) -> NewEntry:
    """A non-conformant inspection of PRODUCT's batch B0 (its declarant's grade: B)."""
    failed = {
        "gtin": PRODUCT["gtin"],
        "batch": "B0",
        "outcome": "non_conformant",
        "inspected_on": "2026-01-01",
        "accepted_third_party": False,
    }
    return rec("inspection.result", failed, time)


def grades_of(result: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [(p["uscc"], p["grade"]) for kind, _, p in result if kind == "credit.graded"]


def test_a_filing_is_graded_in_its_own_batch(graded: Ledger) -> None:
    new = rec(
        "enterprise.filed", enterprise_payload(1, filed_on="2025-12-01"), "2026-01-02T02:00:00.000Z"
    )
    result = graded.append([new])
    written = appended(graded, result)
    assert [k for k, _, _ in written] == ["enterprise.filed", "credit.graded"]
    _, actor, payload = written[1]
    assert actor == CREDIT_ACTOR
    assert payload["grade"] == "B"  # filed 32 days before
    assert payload["policy"] == "cn-ciq-2014"
    assert payload["as_of_size"] == result.first_index + 1
    assert result.indices == [result.first_index]  # the caller's entry; the grade follows
    with read_transaction(graded.engine) as conn:
        row = conn.exec_driver_sql(f"SELECT grade FROM proj_enterprises WHERE uscc = '{A}'").one()
    assert row[0] == "B"


def test_a_batch_regrades_each_enterprise_once_and_only_on_a_change(graded: Ledger) -> None:
    t = "2026-01-02T02:00:00.000Z"
    filings = [
        rec("enterprise.filed", enterprise_payload(n, filed_on="2020-01-01"), t) for n in (1, 2)
    ]
    assert grades_of(appended(graded, graded.append(filings))) == [(A, "A"), (uscc(2), "A")]
    # Three serious items for A in one batch, a minor one for B: one entry, A's D.
    batch = [
        rec("violation.recorded", violation(i, "ciq.adulteration", "2026-01-01"), t)
        for i in range(3)
    ]
    batch.append(
        rec("violation.recorded", violation(9, "ciq.declaration-error", "2026-01-01", uscc(2)), t)
    )
    written = appended(graded, graded.append(batch))
    assert grades_of(written) == [(A, "D")]
    assert [k for k, _, _ in written].count("credit.graded") == 1
    # A record that changes nothing of the grade adds nothing.
    written = appended(
        graded,
        graded.append(
            [
                rec(
                    "violation.recorded",
                    violation(10, "ciq.declaration-error", "2026-01-01", uscc(2)),
                    t,
                )
            ]
        ),
    )
    assert grades_of(written) == []
    # Revoking two of A's serious violations brings it back to C.
    first_violation = graded.size() - 4 - 1 - 1  # 3 serious, the minor, D's grade, the other minor
    revoke = [
        rec("violation.revoked", {"uscc": A, "entry": first_violation + i, "reason": "annulled"}, t)
        for i in range(2)
    ]
    assert grades_of(appended(graded, graded.append(revoke))) == [(A, "C")]
    with read_transaction(graded.engine) as conn:
        report = verify_grades(conn)
    assert report.checked == 4 and report.ok, report.mismatches
    assert replay(graded.engine).equal


def test_an_inspection_regrades_the_declarant(graded: Ledger) -> None:
    t = "2026-01-02T02:00:00.000Z"
    graded.append([rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), t)])
    batches = [rec("batch.declared", declaration(f"B{i}", A, i), t) for i in range(10)]
    assert (
        grades_of(appended(graded, graded.append([rec("product.filed", PRODUCT, t), *batches])))
        == []
    )
    assert grades_of(appended(graded, graded.append([failed_inspection(t)]))) == [(A, "B")]


def test_repair_is_refused_before_180_days_naming_the_date(graded: Ledger) -> None:
    t0 = "2025-01-02T02:00:00.000Z"
    graded.append([rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), t0)])
    batch = [
        rec("violation.recorded", violation(i, "ciq.forged-documents", "2025-01-01"), t0)
        for i in range(3)
    ]
    assert grades_of(appended(graded, graded.append(batch))) == [(A, "D")]
    early = graded.append(
        [
            record_entry(
                "credit.repair_requested",
                {"uscc": A, "grounds": "corrected"},
                f"enterprise:{A}",
                "2025-06-29T02:00:00.000Z",
            )
        ]
    )
    assert early.rejected
    assert "not before 2025-06-30" in str(early.rejected[0])
    request = graded.append(
        [
            record_entry(
                "credit.repair_requested",
                {"uscc": A, "grounds": "corrected"},
                f"enterprise:{A}",
                "2025-06-30T02:00:00.000Z",
            )
        ]
    )
    assert not request.rejected
    decided = rec(
        "credit.repair_decided",
        {"uscc": A, "request": request.first_index, "approved": True},
        "2025-07-01T02:00:00.000Z",
    )
    assert grades_of(appended(graded, graded.append([decided]))) == [
        (A, "B")
    ]  # 36 points, not toward C/D
    with read_transaction(graded.engine) as conn:
        assert verify_grades(conn).ok


def test_the_repair_and_removal_rules_see_the_batch_s_own_earlier_facts(
    graded: Ledger,
) -> None:
    """A violation and a repair request (or a removal) in one import batch: the rule
    counts the violation before it, as it would in two batches."""
    t0 = "2025-01-02T02:00:00.000Z"
    graded.append([rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), t0)])
    batch = [
        rec("violation.recorded", violation(i, "ciq.forged-documents", "2025-01-01"), t0)
        for i in range(3)
    ]
    assert grades_of(appended(graded, graded.append(batch))) == [(A, "D")]
    t1 = "2025-06-30T02:00:00.000Z"  # 180 days after the three violations
    fresh = rec("violation.recorded", violation(7, "ciq.declaration-error", "2025-06-29"), t1)
    request = rec("credit.repair_requested", {"uscc": A, "grounds": "corrected"}, t1)
    both = graded.append([fresh, request], all_or_nothing=True)
    assert list(both.rejected) == [1]
    assert "not before 2025-12-26" in str(both.rejected[1])  # 180 days after 2025-06-29
    assert not both.leaf_hashes  # refused whole: nothing of it is left, projections neither
    with read_transaction(graded.engine) as conn:
        count = conn.exec_driver_sql(f"SELECT COUNT(*) FROM proj_violations WHERE uscc = '{A}'")
        assert count.scalar() == 3
    assert replay(graded.engine).equal
    # The same check, one batch each: the same answer.
    assert not graded.append([fresh]).rejected
    assert "not before 2025-12-26" in str(graded.append([request]).rejected[0])
    # A removal after six clean months, but a violation in the same batch.
    step = {"uscc": A, "reason": "serious"}
    graded.append([rec("blacklist.noticed", step, "2025-07-01T02:00:00.000Z")])
    graded.append([rec("blacklist.listed", step, "2025-08-01T02:00:00.000Z")])
    t2 = "2026-02-02T02:00:00.000Z"
    late = rec("violation.recorded", violation(8, "ciq.declaration-error", "2026-02-01"), t2)
    removal = graded.append([late, rec("blacklist.removed", step, t2)])
    assert list(removal.rejected) == [1]
    assert "last violation (2026-02-01), not before 2026-07-31" in str(removal.rejected[1])


def test_a_redaction_regrades_in_its_batch_and_grades_stay_verifiable(graded: Ledger) -> None:
    """A redacted payload is no fact any more (the projections are rebuilt without it):
    the redaction's batch regrades the enterprise, ``credit verify`` recomputes from what
    the ledger holds, and the grade recorded on the redacted fact is named as one that
    cannot be recomputed, not as a mismatch."""
    t = "2026-01-02T02:00:00.000Z"
    graded.append([rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), t)])
    serious = [
        rec("violation.recorded", violation(i, "ciq.adulteration", "2026-01-01"), t)
        for i in range(3)
    ]
    batch = graded.append(serious)
    assert grades_of(appended(graded, batch)) == [(A, "D")]  # 36 serious points
    d_grade = batch.first_index + 3
    target = batch.first_index  # one of the three
    result = graded.append([redaction(target, "entered for the wrong enterprise")])
    written = [(kind, actor) for kind, actor, _ in appended(graded, result)]
    assert written == [("entry.redacted", OFFICER), ("credit.graded", CREDIT_ACTOR)]
    assert grades_of(appended(graded, result)) == [(A, "C")]  # 24 serious points left
    with read_transaction(graded.engine) as conn:
        row = conn.exec_driver_sql(f"SELECT grade FROM proj_enterprises WHERE uscc = '{A}'").one()
        report = verify_grades(conn, [A])
    assert row[0] == "C"
    assert report.ok, report.mismatches
    assert report.checked == 3
    assert [(u.entry, u.redacted) for u in report.unverifiable] == [
        (d_grade, ((target, result.first_index),))
    ]
    assert "cannot be recomputed" in report.unverifiable[0].describe()
    assert replay(graded.engine).equal
    # A redaction that leaves the grade as it is (12 serious points: still C) adds none.
    again = graded.append([redaction(target + 1)])
    assert grades_of(appended(graded, again)) == []
    with read_transaction(graded.engine) as conn:
        assert verify_grades(conn).ok


def test_a_batch_declared_again_after_a_redaction_regrades_its_new_declarant(
    graded: Ledger,
) -> None:
    """A batch's inspections count for whoever declared it: when its declaration is
    redacted (it named the wrong declarant) and the batch is declared again by another
    enterprise, the inspections already recorded become that enterprise's facts, so the
    new declaration regrades it in its own batch."""
    t = "2026-01-02T02:00:00.000Z"
    b = uscc(2)
    graded.append(
        [
            rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), t),
            rec("enterprise.filed", enterprise_payload(2, filed_on="2020-01-01"), t),
        ]
    )

    def declared(declarant: str, n: int, time: str | None = t) -> NewEntry:
        return record_entry("batch.declared", declaration("B0", declarant, n), OFFICER, time)

    first = graded.append([rec("product.filed", PRODUCT, t), declared(A, 0)])
    assert grades_of(appended(graded, graded.append([failed_inspection(t)]))) == [(A, "B")]
    redacted = graded.append([redaction(first.first_index + 1, "the wrong declarant")])
    assert grades_of(appended(graded, redacted)) == [(A, "A")]
    b_grade = redacted.first_index - 1  # A's B, recorded on the inspection
    with read_transaction(graded.engine) as conn:
        report = verify_grades(conn)
    # Nobody is named as the declarant any more: A's B is the redaction's doing (it
    # recomputes with the declaration given back to A), not a mismatch.
    assert report.ok, report.mismatches
    assert [(u.entry, u.uscc, u.redacted) for u in report.unverifiable] == [
        (b_grade, A, ((first.first_index + 1, redacted.first_index),))
    ]
    again = graded.append([declared(b, 1, None)])  # after the redaction's time
    assert not again.rejected, again.rejected
    assert grades_of(appended(graded, again)) == [(b, "B")]
    with read_transaction(graded.engine) as conn:
        assert verify_grades(conn).ok
    assert replay(graded.engine).equal
    with graded.engine.begin() as conn:
        # A grade that the given-back declaration does not explain is still a mismatch.
        conn.exec_driver_sql(f"UPDATE proj_grades SET grade = 'C' WHERE entry = {b_grade}")
        assert [m.entry for m in verify_grades(conn).mismatches or []] == [b_grade]


def test_removal_from_the_blacklist_waits_six_clean_months(graded: Ledger) -> None:
    graded.append(
        [
            rec(
                "enterprise.filed",
                enterprise_payload(1, filed_on="2020-01-01"),
                "2025-01-02T02:00:00.000Z",
            )
        ]
    )
    step = {"uscc": A, "reason": "serious"}
    graded.append([rec("blacklist.noticed", step, "2025-01-03T02:00:00.000Z")])
    listed = graded.append([rec("blacklist.listed", step, "2025-02-03T02:00:00.000Z")])
    assert grades_of(appended(graded, listed))[-1] == (A, "D")
    early = graded.append([rec("blacklist.removed", step, "2025-08-01T02:00:00.000Z")])
    assert early.rejected and "not before 2025-08-02" in str(early.rejected[0])
    removed = graded.append([rec("blacklist.removed", step, "2025-08-02T02:00:00.000Z")])
    assert not removed.rejected
    assert grades_of(appended(graded, removed)) == [(A, "A")]


def test_recompute_applies_the_passage_of_time(graded: Ledger) -> None:
    # Filed 10 days before its recording, so graded B; recomputing today (well over
    # 180 days later) makes it A, once; a second recompute changes nothing.
    graded.append(
        [
            rec(
                "enterprise.filed",
                enterprise_payload(1, filed_on="2024-12-23"),
                "2025-01-02T02:00:00.000Z",
            )
        ]
    )
    assert recompute(graded).changed == 1
    assert recompute(graded).changed == 0
    assert regrader_of(graded).queued == set()  # an empty batch leaves nothing queued
    with read_transaction(graded.engine) as conn:
        assert verify_grades(conn).checked == 2
        assert verify_grades(conn).ok


def test_a_tampered_grade_is_reported(graded: Ledger) -> None:
    graded.append(
        [
            rec(
                "enterprise.filed",
                enterprise_payload(1, filed_on="2020-01-01"),
                "2026-01-02T02:00:00.000Z",
            )
        ]
    )
    wrong = {
        "uscc": A,
        "grade": "AA",
        "score": 0,
        "policy": "cn-ciq-2014",
        "as_of_size": 2,
        "reasons_digest": "A" * 43 + "=",
    }
    assert not graded.append([rec("credit.graded", wrong, "2026-01-02T02:00:00.000Z")]).rejected
    with read_transaction(graded.engine) as conn:
        report = verify_grades(conn)
    assert (
        report.mismatches
        and "grade recorded 'AA', recomputed 'A'" in report.mismatches[0].describe()
    )


def test_grades_recomputed_after_export_and_import_are_byte_identical(
    graded: Ledger, db_url: str, tmp_path: Any, signer: Signer
) -> None:
    import io

    from sqlalchemy import select

    from credit.engine import grade
    from credit.facts import Violation
    from credit.policy import load_policy
    from credit.regrade import graded_entry
    from credit.store import load_facts
    from ledger.records.tables import LIVE
    from ledger.store.engine import create_db_engine, migrate
    from ledger.store.export import export_log
    from lookup_api.bulk.seed import seed_ledger
    from lookup_api.wiring import restore_log

    seed_ledger(graded, 25, seed=5, batch_size=200)
    buffer = io.StringIO()
    export_log(graded.engine, buffer)
    fresh = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh)
    restored = Ledger(fresh, signer, ORIGIN, hooks=credit_hooks())
    restore_log(restored, io.StringIO(buffer.getvalue()))
    policy = load_policy()
    compared = 0
    with read_transaction(fresh) as conn:
        grades = LIVE["proj_grades"]
        rows = conn.execute(
            select(grades.c.entry, grades.c.uscc, grades.c.as_of_size, grades.c.graded_time)
        ).all()
        facts = load_facts(conn, {r.uscc for r in rows})
        for entry, who, size, time in rows:
            stored = restored.entry(entry, conn)
            assert stored is not None and stored.payload is not None
            result = grade(facts[who].up_to(size), policy, record_date(time))
            rebuilt = graded_entry(result, size, time)
            assert rebuilt.payload == stored.payload  # byte for byte
            assert parse_record("credit.graded", rebuilt.payload).payload == rebuilt.payload
            compared += 1
    assert compared >= 25
    # One fact changed changes the result: a serious violation more before the first grade.
    with read_transaction(fresh) as conn:
        entry, who, size, time = rows[0]
        before = facts[who].up_to(size)
        extra = Violation(size - 1, "ciq.adulteration", record_date(time))
        changed = replace(before, violations=(*before.violations, extra))
        stored = restored.entry(entry, conn)
        assert stored is not None
        assert graded_entry(grade(changed, policy, record_date(time)), size, time).payload != (
            stored.payload
        )
    fresh.dispose()


def test_the_active_policy_can_be_the_customs_tiers(engine: Engine, signer: Signer) -> None:
    ledger = Ledger(engine, signer, ORIGIN, hooks=credit_hooks("cn-gacc-2026"))
    t = "2026-03-02T02:00:00.000Z"
    filed = rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), t)
    written = appended(ledger, ledger.append([filed]))
    assert grades_of(written) == [(A, "certified")]
    assert written[-1][2]["policy"] == "cn-gacc-2026"
    smuggling = {"uscc": A, "item": "gacc.smuggling", "occurred_on": "2026-03-01", "case_no": "S1"}
    written = appended(ledger, ledger.append([rec("violation.recorded", smuggling, t)]))
    assert grades_of(written) == [(A, "dishonest")]
    with read_transaction(engine) as conn:
        report = verify_grades(conn)
    assert report.checked == 2 and report.ok, report.mismatches
