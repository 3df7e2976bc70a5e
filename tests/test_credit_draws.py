"""Random inspection draws: exact weighted picks from a checkpoint seed, recorded as
``draw.made``, recomputed from the ledger (the same picks), and a draw that was not
drawn so is reported with what differs."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from sqlalchemy import Engine

from credit.draws import DrawRefused, grade_weights, make_draw, pick, verify_draw
from credit.policy import load_policy
from credit.regrade import credit_hooks
from ledger.records.entry import record_entry
from ledger.store.engine import read_transaction
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

CIQ = load_policy("cn-ciq-2014")
SEED = hashlib.sha256(b"seed").digest()


def test_picks_are_deterministic_distinct_and_weighted() -> None:
    population = [(f"E{i}", 1 if i < 50 else 100) for i in range(100)]
    one = pick(population, 10, SEED)
    assert one == pick(population, 10, SEED) and len(set(one)) == 10
    assert pick(population, 10, hashlib.sha256(b"other").digest()) != one
    # Heavy ones (weight 100) are drawn about a hundred times as often as light ones.
    counts: Counter[bool] = Counter()
    for n in range(400):
        counts.update(int(p[1:]) >= 50 for p in pick(population, 1, n.to_bytes(32, "big")))
    assert counts[True] > 380
    assert sorted(pick(population, 100, SEED)) == sorted(p for p, _ in population)
    with pytest.raises(DrawRefused, match="cannot draw 101 from a population of 100"):
        pick(population, 101, SEED)


def test_grade_weights_follow_the_inspection_rates() -> None:
    assert grade_weights(CIQ) == {"AA": 1, "A": 5, "B": 20, "C": 50, "D": 100}
    gacc = grade_weights(load_policy("cn-gacc-2026"))
    assert gacc["advanced"] < gacc["routine"] < gacc["dishonest"]


@pytest.fixture
def graded(engine: Engine, signer: Signer) -> Ledger:
    ledger = Ledger(engine, signer, ORIGIN, hooks=credit_hooks())
    t = "2026-01-02T02:00:00.000Z"
    filings = [
        record_entry(
            "enterprise.filed", enterprise_payload(n, filed_on="2020-01-01"), "officer:test", t
        )
        for n in range(1, 31)
    ]
    serious = [
        record_entry(
            "violation.recorded",
            {
                "uscc": uscc(n),
                "item": "ciq.adulteration",
                "occurred_on": "2026-01-01",
                "case_no": f"C{n}{i}",
            },
            "officer:test",
            t,
        )
        for n in range(1, 6)
        for i in range(3)
    ]
    assert not ledger.append(filings + serious).rejected
    return ledger


def test_a_recorded_draw_is_recomputed_with_the_same_picks(graded: Ledger) -> None:
    with read_transaction(graded.engine) as conn:
        draw = make_draw(conn, graded, CIQ, 5)
    assert draw.population == 30 and len(draw.picks) == 5 and draw.seed_size == graded.size()
    entry = draw.entry("officer:test")
    assert not graded.append([entry]).rejected
    draw_id = entry.subject.removeprefix("draw:")
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, draw_id)
    assert check.matches, check.differences()
    assert check.recomputed is not None and check.recomputed.picks == draw.picks


def test_a_draw_not_drawn_from_its_seed_is_reported(graded: Ledger) -> None:
    with read_transaction(graded.engine) as conn:
        draw = make_draw(conn, graded, CIQ, 3)
    steered = [uscc(30), uscc(29), uscc(28)]
    if steered == draw.picks:
        steered = [uscc(27), uscc(26), uscc(25)]
    payload = {"population": 30, "count": 3, "seed_size": draw.seed_size, "picks": steered}
    entry = record_entry("draw.made", payload, "officer:test")
    assert not graded.append([entry]).rejected
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, entry.subject.removeprefix("draw:"))
    assert not check.matches
    assert any(d.startswith("pick 0: recorded ") for d in check.differences())
    with read_transaction(graded.engine) as conn, pytest.raises(DrawRefused, match="no draw nope"):
        verify_draw(conn, graded, CIQ, "nope")
    with (
        read_transaction(graded.engine) as conn,
        pytest.raises(DrawRefused, match="count must be 1 to 30"),
    ):
        make_draw(conn, graded, CIQ, 31)


def test_a_scoped_draw_with_inspectors_and_an_id_recomputes(graded: Ledger) -> None:
    from credit.draws import Scope

    scope = Scope(grades=("D",), roster=("insp-3", "insp-1", "insp-2"), inspectors=2)
    with read_transaction(graded.engine) as conn:
        draw = make_draw(conn, graded, CIQ, 2, scope=scope, draw_id="2026-q1-shenzhen")
    assert draw.population == 5  # the five D enterprises only
    assert set(draw.picks) <= {uscc(n) for n in range(1, 6)}
    assert draw.inspectors is not None and len(set(draw.inspectors)) == 2
    entry = draw.entry("officer:test")
    assert entry.subject == "draw:2026-q1-shenzhen"
    assert not graded.append([entry]).rejected
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, "2026-q1-shenzhen")
    assert check.matches, check.differences()
    again = graded.append([draw.entry("officer:test")])
    assert "draw 2026-q1-shenzhen is already recorded" in str(again.rejected[0])
    # The same draw with other inspectors named is reported.
    payload = {
        "population": 5,
        "count": 2,
        "seed_size": draw.seed_size,
        "picks": draw.picks,
        "grades": ["D"],
        "roster": ["insp-1", "insp-2", "insp-3"],
        "inspectors": sorted({"insp-1", "insp-2", "insp-3"} - set(draw.inspectors))[:1]
        + draw.inspectors[:1],
        "draw_id": "steered",
    }
    assert not graded.append([record_entry("draw.made", payload, "officer:test")]).rejected
    with read_transaction(graded.engine) as conn:
        steered = verify_draw(conn, graded, CIQ, "steered")
    assert not steered.matches and "inspectors recorded" in steered.differences()[0]
    with read_transaction(graded.engine) as conn, pytest.raises(DrawRefused, match="'E' is not"):
        make_draw(conn, graded, CIQ, 1, scope=Scope(grades=("E",)))
    with read_transaction(graded.engine) as conn, pytest.raises(DrawRefused, match="no active"):
        make_draw(conn, graded, CIQ, 1, scope=Scope(port="CNSZX"))
