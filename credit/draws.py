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
from typing import Any

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


@dataclass(frozen=True)
class Scope:
    """Which enterprises a draw is among, and which inspectors it assigns."""

    grades: tuple[str, ...] = ()  # empty: every grade
    port: str | None = None  # only enterprises that declared a batch at this port
    roster: tuple[str, ...] = ()  # inspectors to draw from (empty: none drawn)
    inspectors: int = 0  # how many of them


def population_at(
    conn: Connection, policy: Policy, size: int, scope: Scope = Scope()
) -> list[tuple[str, int]]:
    """The enterprises active at tree size ``size`` (within ``scope``), sorted, with their
    grade weights by the latest grade recorded under ``policy`` before that size."""
    ent, grd, bat = LIVE["proj_enterprises"], LIVE["proj_grades"], LIVE["proj_batches"]
    query = select(ent.c.uscc).where(
        ent.c.filed_entry < size,
        or_(ent.c.revoked_entry.is_(None), ent.c.revoked_entry >= size),
    )
    if scope.port is not None:
        declared = select(bat.c.declarant_uscc).where(
            bat.c.port == scope.port, bat.c.declared_entry < size
        )
        query = query.where(ent.c.uscc.in_(declared))
    active = conn.execute(query.order_by(ent.c.uscc)).all()
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
    found = [(u, grades.get(u, fallback)) for (u,) in active]
    return [
        (u, weights.get(g, weights[fallback]))
        for u, g in found
        if not scope.grades or g in scope.grades
    ]


def pick_inspectors(roster: Sequence[str], count: int, seed: bytes) -> list[str]:
    """``count`` inspectors from ``roster``, each equally likely, from the draw's seed."""
    if count > len(roster):
        raise DrawRefused(f"cannot assign {count} inspectors from a roster of {len(roster)}")
    return pick(
        [(i, 1) for i in sorted(roster)], count, hashlib.sha256(seed + b"inspectors").digest()
    )


@dataclass(frozen=True)
class Draw:
    population: int
    count: int
    seed_size: int
    picks: list[str]
    scope: Scope = Scope()
    inspectors: list[str] | None = None
    draw_id: str | None = None

    def entry(self, actor: str) -> NewEntry:
        payload: dict[str, object] = {
            "population": self.population,
            "count": self.count,
            "seed_size": self.seed_size,
            "picks": self.picks,
        }
        if self.draw_id is not None:
            payload["draw_id"] = self.draw_id
        if self.scope.grades:
            payload["grades"] = list(self.scope.grades)
        if self.scope.port is not None:
            payload["port"] = self.scope.port
        if self.scope.roster:
            payload["roster"] = list(self.scope.roster)
            payload["inspectors"] = self.inspectors or []
        return record_entry("draw.made", payload, actor)


def _drawn(  # noqa: PLR0917 - what a draw is made of
    conn: Connection,
    policy: Policy,
    size: int,
    root: bytes,
    count: int,
    scope: Scope,
    draw_id: str | None,
) -> Draw:
    unknown = [g for g in scope.grades if g not in policy.measures]
    if unknown:
        raise DrawRefused(f"{unknown[0]!r} is not a grade of {policy.id}")
    population = population_at(conn, policy, size, scope)
    if not 1 <= count <= len(population):
        raise DrawRefused(
            f"count must be 1 to {len(population)} (the active enterprises in scope)"
            if population
            else "no active enterprise is in the draw's scope"
        )
    seed = draw_seed(root)
    inspectors = pick_inspectors(scope.roster, scope.inspectors, seed) if scope.roster else None
    return Draw(
        len(population), count, size, pick(population, count, seed), scope, inspectors, draw_id
    )


def make_draw(
    conn: Connection,
    ledger: Ledger,
    policy: Policy,
    count: int,
    *,
    scope: Scope = Scope(),
    draw_id: str | None = None,
) -> Draw:
    """A draw of ``count`` targets (and inspectors) seeded by the latest signed checkpoint."""
    checkpoint = ledger.latest_checkpoint(conn)
    if checkpoint is None:
        raise DrawRefused("the log is empty: there is nothing to draw from")
    if scope.roster and not 1 <= scope.inspectors <= len(scope.roster):
        raise DrawRefused(f"inspectors must be 1 to {len(scope.roster)} (the roster)")
    return _drawn(conn, policy, checkpoint.size, checkpoint.root, count, scope, draw_id)


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
        if self.recorded.inspectors != self.recomputed.inspectors:
            out.append(
                f"inspectors recorded {self.recorded.inspectors}, "
                f"recomputed {self.recomputed.inspectors}"
            )
        return out


def _recorded(payload: dict[str, Any]) -> Draw:
    roster = tuple(payload.get("roster") or ())
    scope = Scope(
        tuple(payload.get("grades") or ()),
        payload.get("port"),
        roster,
        len(payload.get("inspectors") or ()),
    )
    return Draw(
        payload["population"],
        payload["count"],
        payload["seed_size"],
        list(payload["picks"]),
        scope,
        list(payload["inspectors"]) if roster else None,
        payload.get("draw_id"),
    )


def verify_draw(conn: Connection, ledger: Ledger, policy: Policy, draw_id: str) -> DrawCheck:
    """Recompute the recorded draw ``draw_id`` from the ledger: its scope from the entry,
    its population and picks from the state at its seed size and that checkpoint."""
    draws = LIVE["proj_draws"]
    entry = conn.execute(select(draws.c.entry).where(draws.c.draw_id == draw_id)).scalar()
    if entry is None:
        raise DrawRefused(f"no draw {draw_id} is recorded")
    stored = ledger.entry(entry, conn)
    if stored is None or stored.payload is None:
        raise DrawRefused(f"draw {draw_id} (entry {entry}) is redacted: nothing to recompute")
    recorded = _recorded(json.loads(stored.payload))
    checkpoint = ledger.checkpoint_at(recorded.seed_size, conn)
    if checkpoint is None:
        problem = f"no checkpoint of size {recorded.seed_size}"
        return DrawCheck(draw_id, entry, recorded, None, problem)
    try:
        recomputed = _drawn(
            conn,
            policy,
            recorded.seed_size,
            checkpoint.root,
            recorded.count,
            recorded.scope,
            recorded.draw_id,
        )
    except DrawRefused as exc:
        return DrawCheck(draw_id, entry, recorded, None, str(exc))
    check = DrawCheck(draw_id, entry, recorded, recomputed, None)
    if check.differences():
        return DrawCheck(draw_id, entry, recorded, recomputed, "; ".join(check.differences()))
    return check
