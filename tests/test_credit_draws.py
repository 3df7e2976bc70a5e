"""Random inspection draws: commit, then reveal. The request is recorded first
(``draw.requested``); the draw, exact weighted picks seeded by the first checkpoint
covering the request, follows as ``draw.made`` naming the request and the policy; it is
recomputed from the ledger (the same picks), and a draw that was not drawn so is
reported with what differs."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine

from credit.draws import (
    DrawRefused,
    Scope,
    draw_for_request,
    draw_seed,
    grade_weights,
    make_draw,
    pick,
    request_seed,
    verify_draw,
)
from credit.policy import load_policy
from credit.regrade import credit_hooks
from ledger.records.entry import record_entry
from ledger.records.projector import replay
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


def _made_payload(ledger: Ledger, index: int) -> dict[str, Any]:
    stored = ledger.entry(index)
    assert stored is not None and stored.payload is not None
    found: dict[str, Any] = json.loads(stored.payload)
    return found


def test_a_draw_is_requested_first_and_seeded_by_the_checkpoint_covering_the_request(
    graded: Ledger,
) -> None:
    made = make_draw(graded, CIQ, 5, "officer:test", draw_id="d-1")
    request = graded.entry(made.request)
    assert request is not None and b'"kind":"draw.requested"' in request.leaf_input
    assert made.request < made.entry  # the request is on the ledger before the draw
    covering = graded.first_checkpoint_covering(made.request)
    assert covering is not None and made.draw.seed_size == covering.size
    payload = _made_payload(graded, made.entry)
    # draw.made names its request, the policy it weighted by and the seed's checkpoint.
    assert payload["request"] == made.request and payload["policy"] == CIQ.id
    assert payload["seed_size"] == covering.size and payload["draw_id"] == "d-1"
    population = [(u, w) for u, w in _population(graded, covering.size)]
    assert made.draw.picks == pick(population, 5, request_seed(covering.root, "d-1"))
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, "d-1")
    assert check.matches, check.differences()
    # Checked under the policy the draw names, whatever the verifier passes.
    with read_transaction(graded.engine) as conn:
        assert verify_draw(conn, graded, load_policy("cn-gacc-2026"), "d-1").matches
    # Asking again for the same draw is refused: no retry until the draw comes out well.
    with pytest.raises(DrawRefused, match="draw d-1 is already recorded"):
        make_draw(graded, CIQ, 5, "officer:test", draw_id="d-1")
    # Without an id one is made up, and two draws get two ids and two seeds.
    one, two = (make_draw(graded, CIQ, 5, "officer:test") for _ in range(2))
    assert one.draw.draw_id != two.draw.draw_id
    assert re.fullmatch(r"[0-9a-f]{16}", one.draw.draw_id or "")


def _population(ledger: Ledger, size: int) -> list[tuple[str, int]]:
    from credit.draws import population_at

    with read_transaction(ledger.engine) as conn:
        return population_at(conn, CIQ, size)


def _request(ledger: Ledger, draw_id: str, count: int = 3) -> int:
    asked = {"draw_id": draw_id, "policy": CIQ.id, "count": count}
    result = ledger.append([record_entry("draw.requested", asked, "officer:test")])
    assert not result.rejected, result.rejected
    return result.first_index


def test_a_draw_that_does_not_follow_from_its_request_is_reported(graded: Ledger) -> None:
    request = _request(graded, "steered")
    covering = graded.first_checkpoint_covering(request)
    assert covering is not None
    honest = pick(_population(graded, covering.size), 3, request_seed(covering.root, "steered"))
    steered = [u for u in (uscc(n) for n in range(30, 0, -1)) if u not in honest][:3]
    # A draw seeded by a later checkpoint (a retry) and with other picks.
    later = graded.append([record_entry("enterprise.filed", enterprise_payload(40), "officer:t")])
    payload = {
        "population": 30,
        "count": 3,
        "seed_size": later.checkpoint.size if later.checkpoint else 0,
        "picks": steered,
        "draw_id": "steered",
        "policy": CIQ.id,
        "request": request,
    }
    assert not graded.append([record_entry("draw.made", payload, "officer:test")]).rejected
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, "steered")
    assert not check.matches
    assert check.problem is not None
    differences = check.problem.split("; ")
    assert f"seed_size recorded {payload['seed_size']}, recomputed {covering.size}" in differences
    assert any(d.startswith("pick 0: recorded ") for d in differences)
    with read_transaction(graded.engine) as conn, pytest.raises(DrawRefused, match="no draw nope"):
        verify_draw(conn, graded, CIQ, "nope")
    with pytest.raises(DrawRefused, match="count must be 1 to 31"):
        make_draw(graded, CIQ, 32, "officer:test", draw_id="too-many")
    assert graded.append([]).first_index == graded.size()  # nothing was recorded for it
    with read_transaction(graded.engine) as conn, pytest.raises(DrawRefused, match="no draw"):
        verify_draw(conn, graded, CIQ, "too-many")


def test_a_draw_is_appended_only_as_the_answer_to_its_request(graded: Ledger) -> None:
    payload = {"population": 30, "count": 1, "seed_size": 5, "picks": [uscc(1)], "draw_id": "x"}
    refused = graded.append([record_entry("draw.made", payload, "officer:test")]).rejected
    assert "request: a draw names the draw.requested entry" in str(refused[0])
    request = _request(graded, "x", count=1)
    other = _request(graded, "y", count=1)
    wrong = payload | {"policy": CIQ.id, "request": other, "seed_size": other + 1}
    refused = graded.append([record_entry("draw.made", wrong, "officer:test")]).rejected
    assert f"draw x was requested by entry {request}, not {other}" in str(refused[0])
    again = graded.append(
        [record_entry("draw.requested", {"draw_id": "x", "policy": CIQ.id, "count": 1}, "o:t")]
    ).rejected
    assert f"draw x is already recorded (entry {request})" in str(again[0])


def test_a_draw_of_the_earlier_form_is_still_recomputed(graded: Ledger) -> None:
    """Draws recorded before requests existed (seeded by the checkpoint at hand) replay
    as they were recorded and verify against that checkpoint."""
    checkpoint = graded.latest_checkpoint()
    assert checkpoint is not None
    picks = pick(_population(graded, checkpoint.size), 2, draw_seed(checkpoint.root))
    payload = {"population": 30, "count": 2, "seed_size": checkpoint.size, "picks": picks}
    entry = record_entry("draw.made", payload, "officer:test")
    # Stored without the rules that now refuse it, then projected as a replay would.
    bare = Ledger(graded.engine, graded.sequencer.signer, ORIGIN, hooks=[])
    assert not bare.append([entry]).rejected
    assert replay(graded.engine, apply_result=True).applied
    draw_id = entry.subject.removeprefix("draw:")
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, draw_id)
    assert check.matches, check.differences()


def test_a_scoped_draw_with_inspectors_and_an_id_recomputes(graded: Ledger) -> None:
    scope = Scope(grades=("D",), roster=("insp-3", "insp-1", "insp-2"), inspectors=2)
    made = make_draw(graded, CIQ, 2, "officer:test", scope=scope, draw_id="2026-q1-shenzhen")
    draw = made.draw
    assert draw.population == 5  # the five D enterprises only
    assert set(draw.picks) <= {uscc(n) for n in range(1, 6)}
    assert draw.inspectors is not None and len(set(draw.inspectors)) == 2
    with read_transaction(graded.engine) as conn:
        check = verify_draw(conn, graded, CIQ, "2026-q1-shenzhen")
    assert check.matches, check.differences()
    # The same request with other inspectors named is reported.
    asked = {
        "draw_id": "steered",
        "policy": CIQ.id,
        "count": 2,
        "grades": ["D"],
        "roster": ["insp-1", "insp-2", "insp-3"],
        "inspectors": 2,
    }
    request = graded.append([record_entry("draw.requested", asked, "officer:test")])
    with read_transaction(graded.engine) as conn:
        honest = draw_for_request(conn, graded, CIQ, request.first_index)
    assert honest.inspectors is not None
    payload = honest.entry("officer:test").record
    left_out = sorted({"insp-1", "insp-2", "insp-3"} - set(honest.inspectors))
    payload.inspectors = [left_out[0], honest.inspectors[0]]
    forged = record_entry("draw.made", msgspec.to_builtins(payload), "officer:test")
    assert not graded.append([forged]).rejected
    with read_transaction(graded.engine) as conn:
        steered = verify_draw(conn, graded, CIQ, "steered")
    assert not steered.matches and "inspectors recorded" in steered.differences()[0]
    with pytest.raises(DrawRefused, match="'E' is not"):
        make_draw(graded, CIQ, 1, "officer:test", scope=Scope(grades=("E",)))
    with pytest.raises(DrawRefused, match="no active"):
        make_draw(graded, CIQ, 1, "officer:test", scope=Scope(port="CNSZX"))
