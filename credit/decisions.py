"""Inspection decisions nobody can steer: ``inspect`` or ``release`` (on document review,
审单放行) for a declared batch, drawn with the grade's inspection rate times the
product's risk factor from a seed that is SHA-256 of a signed checkpoint's root and the
batch id. The checkpoint is the first one that covered the batch's declaration, so the
seed was fixed before anyone could know it and anyone can recompute the draw.

Imports ``ledger.records``, ``ledger.store`` and ``credit``; ``draw`` and ``decide`` are pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from sqlalchemy import Connection, select

from credit.policy import Policy
from ledger.errors import InvalidInput
from ledger.records.tables import LIVE
from ledger.store.log import Ledger

Decision = Literal["inspect", "release"]
SEED_BITS = 256


def batch_id(gtin: str, batch: str) -> str:
    return f"batch:{gtin}/{batch}"


def decision_seed(root: bytes, batch: str) -> bytes:
    """SHA-256 of the checkpoint's root hash followed by the batch id (UTF-8)."""
    return hashlib.sha256(root + batch.encode()).digest()


def inspection_rate(policy: Policy, grade: str, risk_class: str) -> Fraction:
    """The share of batches inspected (0 to 1): the grade's rate times the risk factor."""
    percent = policy.measures[grade].inspection_percent * policy.risk_factors[risk_class]
    return min(Fraction(1), percent / 100)


def draw(seed: bytes, rate: Fraction) -> Decision:
    """``inspect`` when the seed, read as a number in [0, 1), falls below ``rate``: exact,
    with no floating point, so every implementation draws the same."""
    value = int.from_bytes(seed, "big")
    return "inspect" if value * rate.denominator < rate.numerator << SEED_BITS else "release"


@dataclass(frozen=True)
class InspectionDecision:
    batch: str
    grade: str
    policy: str
    risk_class: str
    rate: Fraction
    checkpoint_size: int
    seed: bytes
    decision: Decision


def decide(  # noqa: PLR0917 - the decision's inputs, each named in the answer
    policy: Policy,
    grade: str,
    risk_class: str,
    gtin: str,
    batch: str,
    checkpoint_size: int,
    root: bytes,
) -> InspectionDecision:
    ident = batch_id(gtin, batch)
    rate = inspection_rate(policy, grade, risk_class)
    seed = decision_seed(root, ident)
    return InspectionDecision(
        ident, grade, policy.id, risk_class, rate, checkpoint_size, seed, draw(seed, rate)
    )


class DecisionRefused(InvalidInput):
    """A decision cannot be drawn for this batch yet (no checkpoint, no grade)."""


class UnknownBatch(DecisionRefused):
    """The batch is not declared."""


def decide_batch(
    conn: Connection, ledger: Ledger, policy: Policy, gtin: str, batch: str
) -> InspectionDecision:
    """Draw the decision for a declared batch from the ledger alone: the declarant's
    latest grade recorded under ``policy`` before the first checkpoint that covered the
    declaration, the product's risk class, and that checkpoint's root."""
    bat, prod, grades = LIVE["proj_batches"], LIVE["proj_products"], LIVE["proj_grades"]
    row = conn.execute(
        select(bat.c.declared_entry, bat.c.declarant_uscc, prod.c.risk_class)
        .select_from(bat.join(prod, prod.c.gtin == bat.c.gtin))
        .where(bat.c.gtin == gtin, bat.c.batch == batch)
    ).first()
    if row is None or row.declared_entry is None:
        raise UnknownBatch(f"batch {batch} of {gtin} is not declared")
    checkpoint = ledger.first_checkpoint_covering(row.declared_entry, conn)
    if checkpoint is None:
        raise DecisionRefused(f"no signed checkpoint covers entry {row.declared_entry} yet")
    graded = conn.execute(
        select(grades.c.grade)
        .where(
            grades.c.uscc == row.declarant_uscc,
            grades.c.policy == policy.id,
            grades.c.entry < checkpoint.size,
        )
        .order_by(grades.c.entry.desc())
        .limit(1)
    ).scalar()
    if graded is None:
        raise DecisionRefused(
            f"the declarant {row.declarant_uscc} had no {policy.id} grade recorded by tree "
            f"size {checkpoint.size}; run `credtrace credit recompute`"
        )
    return decide(policy, graded, row.risk_class, gtin, batch, checkpoint.size, checkpoint.root)
