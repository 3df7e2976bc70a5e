"""Inspection decisions: exact draws from a checkpoint seed, rates from grade and risk,
and over 100,000 decisions an observed rate inside the 99.9 % binomial interval."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import pytest

from credit.decisions import batch_id, decide, decision_seed, draw, inspection_rate
from credit.policy import load_policy

CIQ = load_policy("cn-ciq-2014")
ROOT = hashlib.sha256(b"a checkpoint root").digest()
Z_999 = 3.2905  # two-sided 99.9 %


def test_the_seed_is_sha256_of_root_and_batch_id() -> None:
    ident = batch_id("06901234567892", "B1")
    assert ident == "batch:06901234567892/B1"
    assert decision_seed(ROOT, ident) == hashlib.sha256(ROOT + ident.encode()).digest()


def test_draw_is_exact_at_the_boundary() -> None:
    half = Fraction(1, 2)
    assert draw((2**255 - 1).to_bytes(32, "big"), half) == "inspect"
    assert draw((2**255).to_bytes(32, "big"), half) == "release"
    assert draw(bytes(32), Fraction(0)) == "release"
    assert draw(b"\xff" * 32, Fraction(1)) == "inspect"


@pytest.mark.parametrize(
    ("grade", "risk", "rate"),
    [
        ("AA", "medium", Fraction(1, 100)),
        ("A", "low", Fraction(5, 200)),
        ("B", "high", Fraction(40, 100)),
        ("D", "high", Fraction(1)),
    ],
)
def test_rate_is_the_grade_rate_times_the_risk_factor(
    grade: str, risk: str, rate: Fraction
) -> None:
    assert inspection_rate(CIQ, grade, risk) == rate


@pytest.mark.parametrize(("grade", "risk"), [("A", "medium"), ("B", "medium"), ("AA", "high")])
def test_observed_rate_over_100000_decisions_is_within_the_binomial_interval(
    grade: str, risk: str
) -> None:
    n = 100_000
    rate = inspection_rate(CIQ, grade, risk)
    inspected = sum(
        decide(CIQ, grade, risk, "06901234567892", f"B{i}", 7, ROOT).decision == "inspect"
        for i in range(n)
    )
    p = float(rate)
    half_width = Z_999 * math.sqrt(n * p * (1 - p))
    assert abs(inspected - n * p) <= half_width, (inspected, n * p, half_width)


def test_the_same_inputs_give_the_same_decision_and_another_root_may_not() -> None:
    one = decide(CIQ, "B", "medium", "06901234567892", "B1", 7, ROOT)
    assert one == decide(CIQ, "B", "medium", "06901234567892", "B1", 7, ROOT)
    others = {
        decide(CIQ, "B", "medium", "06901234567892", "B1", 7, bytes([i]) * 32).decision
        for i in range(40)
    }
    assert others == {"inspect", "release"}
