"""Random inspection draws (双随机、一公开) that anyone can recompute.

A draw picks ``count`` enterprises, without replacement, from the population of the
enterprises active at a signed checkpoint's tree size, each weighted by its grade's
inspection rate (a D enterprise is drawn a hundred times as often as an AA one under
cn-ciq-2014). The randomness is SHA-256 of the checkpoint's root with a counter: fixed
by the log before the draw, so nobody can steer it. Integer weights and a Fenwick tree
make the draw exact; ``draw.made`` records population, count, seed size and picks, and
``verify_draw`` recomputes it from the ledger and says what differs.

Imports ``ledger.records``, ``ledger.store`` and ``credit``; ``pick`` is pure.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import Connection, or_, select

from credit.policy import Policy
from ledger.errors import InvalidInput
from ledger.records.entry import record_entry
from ledger.records.tables import LIVE
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger

DRAW_LABEL = b"credtrace draw v1"


class DrawRefused(InvalidInput):
    """A draw cannot be made or checked as asked."""


def _unit(seed: bytes, n: int) -> int:
    """The ``n``-th 256-bit number of a draw's stream."""
    return int.from_bytes(hashlib.sha256(seed + n.to_bytes(8, "big")).digest(), "big")


def draw_seed(root: bytes) -> bytes:
    return hashlib.sha256(DRAW_LABEL + root).digest()


class _Fenwick:
    """Prefix sums of integer weights, with removal, in O(log n)."""

    def __init__(self, weights: Sequence[int]) -> None:
        self.size = len(weights)
        self.tree = [0] * (self.size + 1)
        for i, w in enumerate(weights):
            self.add(i, w)

    def add(self, i: int, delta: int) -> None:
        i += 1
        while i <= self.size:
            self.tree[i] += delta
            i += i & -i

    def find(self, target: int) -> int:
        """The first index whose prefix sum exceeds ``target``."""
        pos, step = 0, 1 << self.size.bit_length()
        while step:
            nxt = pos + step
            if nxt <= self.size and self.tree[nxt] <= target:
                pos = nxt
                target -= self.tree[nxt]
            step >>= 1
        return pos


def pick(population: Sequence[tuple[str, int]], count: int, seed: bytes) -> list[str]:
    """``count`` ids drawn without replacement, each with probability proportional to its
    integer weight among those left (pure: the same inputs give the same picks)."""
    if count > len(population):
        raise DrawRefused(f"cannot draw {count} from a population of {len(population)}")
    weights = [w for _, w in population]
    if any(w <= 0 for w in weights):
        raise DrawRefused("every weight must be positive")
    tree = _Fenwick(weights)
    total = sum(weights)
    picks = []
    for n in range(count):
        at = tree.find(_unit(seed, n) % total)
        picks.append(population[at][0])
        tree.add(at, -weights[at])
        total -= weights[at]
    return picks


def grade_weights(policy: Policy) -> dict[str, int]:
    """Each grade's inspection rate as an integer weight (rates scaled to whole numbers)."""
    rates = {g: m.inspection_percent for g, m in policy.measures.items()}
    scale = math.lcm(*(Fraction(r).denominator for r in rates.values()))
    return {g: max(1, int(r * scale)) for g, r in rates.items()}


def default_grade(policy: Policy) -> str:
    """The grade of an enterprise with none recorded: the policy's otherwise rule's."""
    return policy.rules[-1].grade


def population_at(conn: Connection, policy: Policy, size: int) -> list[tuple[str, int]]:
    """The enterprises active at tree size ``size``, sorted, with their grade weights by
    the latest grade recorded under ``policy`` before that size."""
    ent, grd = LIVE["proj_enterprises"], LIVE["proj_grades"]
    active = conn.execute(
        select(ent.c.uscc)
        .where(
            ent.c.filed_entry < size,
            or_(ent.c.revoked_entry.is_(None), ent.c.revoked_entry >= size),
        )
        .order_by(ent.c.uscc)
    ).all()
    grades: dict[str, str] = {}
    rows = conn.execute(
        select(grd.c.uscc, grd.c.grade)
        .where(grd.c.policy == policy.id, grd.c.entry < size)
        .order_by(grd.c.entry)
    )
    for uscc, grade in rows:
        grades[uscc] = grade
    weights = grade_weights(policy)
    fallback = default_grade(policy)
    return [(u, weights.get(grades.get(u, fallback), weights[fallback])) for (u,) in active]


@dataclass(frozen=True)
class Draw:
    population: int
    count: int
    seed_size: int
    picks: list[str]

    def entry(self, actor: str) -> NewEntry:
        payload = {
            "population": self.population,
            "count": self.count,
            "seed_size": self.seed_size,
            "picks": self.picks,
        }
        return record_entry("draw.made", payload, actor)


def make_draw(conn: Connection, ledger: Ledger, policy: Policy, count: int) -> Draw:
    """A draw of ``count`` targets seeded by the latest signed checkpoint."""
    checkpoint = ledger.latest_checkpoint(conn)
    if checkpoint is None:
        raise DrawRefused("the log is empty: there is nothing to draw from")
    population = population_at(conn, policy, checkpoint.size)
    if count < 1 or count > len(population):
        raise DrawRefused(f"count must be 1 to {len(population)} (the active enterprises)")
    picks = pick(population, count, draw_seed(checkpoint.root))
    return Draw(len(population), count, checkpoint.size, picks)


@dataclass(frozen=True)
class DrawCheck:
    draw_id: str
    entry: int
    recorded: Draw
    recomputed: Draw | None
    problem: str | None

    @property
    def matches(self) -> bool:
        return self.problem is None

    def differences(self) -> list[str]:
        if self.problem:
            return [self.problem]
        assert self.recomputed is not None
        out = []
        if self.recorded.population != self.recomputed.population:
            out.append(
                f"population recorded {self.recorded.population}, "
                f"recomputed {self.recomputed.population}"
            )
        for i, (a, b) in enumerate(zip(self.recorded.picks, self.recomputed.picks, strict=True)):
            if a != b:
                out.append(f"pick {i}: recorded {a}, recomputed {b}")
        return out


def verify_draw(conn: Connection, ledger: Ledger, policy: Policy, draw_id: str) -> DrawCheck:
    """Recompute the recorded draw ``draw_id`` from the ledger."""
    draws = LIVE["proj_draws"]
    found = conn.execute(select(draws).where(draws.c.draw_id == draw_id)).first()
    if found is None:
        raise DrawRefused(f"no draw {draw_id} is recorded")
    row = found._mapping  # a column named count: not the Row's count()
    entry, size, count = row["entry"], row["seed_size"], row["count"]
    recorded = Draw(row["population"], count, size, json.loads(row["picks"]))
    checkpoint = ledger.checkpoint_at(size, conn)
    if checkpoint is None:
        return DrawCheck(draw_id, entry, recorded, None, f"no checkpoint of size {size}")
    population = population_at(conn, policy, size)
    if count > len(population):
        problem = f"count {count} exceeds the population {len(population)} at that size"
        return DrawCheck(draw_id, entry, recorded, None, problem)
    picks = pick(population, count, draw_seed(checkpoint.root))
    recomputed = Draw(len(population), count, size, picks)
    check = DrawCheck(draw_id, entry, recorded, recomputed, None)
    if check.differences():
        return DrawCheck(draw_id, entry, recorded, recomputed, "; ".join(check.differences()))
    return check
