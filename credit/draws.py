"""Random inspection draws (双随机、一公开) that anyone can recompute.

Commit, then reveal: a draw is first asked for by a ``draw.requested`` entry (draw id,
policy, count, scope, roster), and only then drawn, from a seed that is SHA-256 of the
root of the first signed checkpoint covering that request and the draw id. Every batch
is signed with its own checkpoint, whose root hangs on the entries' random salts, so
nobody knows the seed before the request is recorded, and a retry is another request
on the ledger with another id: nobody can steer a draw by asking again.

A draw picks ``count`` enterprises, without replacement, from the population of the
enterprises active at that checkpoint's tree size, each weighted by its grade's
inspection rate (a D enterprise is drawn a hundred times as often as an AA one under
cn-ciq-2014), and the inspectors from the roster with equal weights. Integer weights
and a Fenwick tree make the draw exact; ``draw.made`` records the request entry, policy,
population, count, seed size and picks, and ``verify_draw`` recomputes it from the
ledger and says what differs. Draws recorded in the earlier form (no request, seeded by
the checkpoint at hand) are still recomputed, from ``draw_seed``.

Imports ``ledger.records``, ``ledger.store`` and ``credit``; ``pick`` is pure.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, or_, select

from credit.policy import Policy, PolicyError, load_policy
from ledger.errors import EntryRejected, InvalidInput
from ledger.records.entry import record_entry
from ledger.records.kinds import RecordError
from ledger.records.tables import LIVE
from ledger.store.engine import read_transaction
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.tlog.envelope import parse_envelope

DRAW_LABEL = b"credtrace draw v1"


class DrawRefused(InvalidInput):
    """A draw cannot be made or checked as asked."""


def _unit(seed: bytes, n: int) -> int:
    """The ``n``-th 256-bit number of a draw's stream."""
    return int.from_bytes(hashlib.sha256(seed + n.to_bytes(8, "big")).digest(), "big")


def draw_seed(root: bytes) -> bytes:
    """The seed of a draw recorded in the earlier form (no request): kept to verify it."""
    return hashlib.sha256(DRAW_LABEL + root).digest()


def request_seed(root: bytes, draw_id: str) -> bytes:
    """SHA-256 of the root of the first checkpoint covering the request, then the draw
    id (UTF-8): one seed per request, known to nobody before the request was signed."""
    return hashlib.sha256(root + draw_id.encode()).digest()


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
    policy: str | None = None
    request: int | None = None  # the draw.requested entry (None: the earlier form)

    def entry(self, actor: str) -> NewEntry:
        payload: dict[str, object] = {
            "population": self.population,
            "count": self.count,
            "seed_size": self.seed_size,
            "picks": self.picks,
        }
        if self.draw_id is not None:
            payload["draw_id"] = self.draw_id
        if self.policy is not None:
            payload["policy"] = self.policy
        if self.request is not None:
            payload["request"] = self.request
        if self.scope.grades:
            payload["grades"] = list(self.scope.grades)
        if self.scope.port is not None:
            payload["port"] = self.scope.port
        if self.scope.roster:
            payload["roster"] = list(self.scope.roster)
            payload["inspectors"] = self.inspectors or []
        return record_entry("draw.made", payload, actor)


@dataclass(frozen=True)
class DrawRequest:
    """What a ``draw.requested`` entry commits to."""

    draw_id: str
    policy: str
    count: int
    scope: Scope = Scope()

    def payload(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "draw_id": self.draw_id,
            "policy": self.policy,
            "count": self.count,
        }
        if self.scope.grades:
            payload["grades"] = list(self.scope.grades)
        if self.scope.port is not None:
            payload["port"] = self.scope.port
        if self.scope.roster:
            payload["roster"] = list(self.scope.roster)
            payload["inspectors"] = self.scope.inspectors
        return payload

    def entry(self, actor: str) -> NewEntry:
        try:
            return record_entry("draw.requested", self.payload(), actor)
        except RecordError as exc:
            raise DrawRefused(str(exc)) from exc


def _request_of(payload: dict[str, Any]) -> DrawRequest:
    roster = tuple(payload.get("roster") or ())
    scope = Scope(
        tuple(payload.get("grades") or ()),
        payload.get("port"),
        roster,
        payload.get("inspectors") or 0,
    )
    return DrawRequest(payload["draw_id"], payload["policy"], payload["count"], scope)


def _drawn(  # noqa: PLR0917 - what a draw is made of
    conn: Connection,
    policy: Policy,
    size: int,
    seed: bytes,
    count: int,
    scope: Scope,
    draw_id: str | None,
    request: int | None = None,
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
    inspectors = pick_inspectors(scope.roster, scope.inspectors, seed) if scope.roster else None
    return Draw(
        len(population),
        count,
        size,
        pick(population, count, seed),
        scope,
        inspectors,
        draw_id,
        policy.id if request is not None else None,
        request,
    )


def draw_for_request(conn: Connection, ledger: Ledger, policy: Policy, request: int) -> Draw:
    """The draw that answers the ``draw.requested`` entry ``request``, from the first
    signed checkpoint covering it (the ledger alone decides it: anyone can redo this)."""
    stored = ledger.entry(request, conn)
    if stored is None or stored.payload is None:
        raise DrawRefused(f"entry {request} is not stored or is redacted: nothing to draw")
    asked = _request_of(json.loads(stored.payload))
    checkpoint = ledger.first_checkpoint_covering(request, conn)
    if checkpoint is None:
        raise DrawRefused(f"no signed checkpoint covers the request (entry {request}) yet")
    seed = request_seed(checkpoint.root, asked.draw_id)
    return _drawn(
        conn, policy, checkpoint.size, seed, asked.count, asked.scope, asked.draw_id, request
    )


@dataclass(frozen=True)
class MadeDraw:
    draw: Draw
    request: int  # the draw.requested entry
    entry: int  # the draw.made entry


Append = Callable[[NewEntry], int]
"""Appends one entry and returns its index, raising EntryRejected when it is refused."""


def ledger_append(ledger: Ledger) -> Append:
    """Append straight through the ledger's sequencer (the command line's way)."""

    def append(entry: NewEntry) -> int:
        result = ledger.append([entry])
        if result.rejected:
            raise next(iter(result.rejected.values()))
        index = result.indices[0]
        assert index is not None
        return index

    return append


def make_draw(
    ledger: Ledger,
    policy: Policy,
    count: int,
    actor: str,
    *,
    scope: Scope = Scope(),
    draw_id: str | None = None,
    append: Append | None = None,
) -> MadeDraw:
    """Record a request for a draw of ``count`` targets (and inspectors), then the draw
    seeded by the first checkpoint covering the request: two batches, the second at once.

    What can be refused is checked on the state at hand before anything is recorded (the
    request does not change the population); should the population shrink between the
    two batches, the request stays on the ledger unanswered and the refusal is raised."""
    append = append or ledger_append(ledger)
    if scope.roster and not 1 <= scope.inspectors <= len(scope.roster):
        raise DrawRefused(f"inspectors must be 1 to {len(scope.roster)} (the roster)")
    asked = DrawRequest(draw_id or secrets.token_hex(8), policy.id, count, scope)
    entry = asked.entry(actor)
    with read_transaction(ledger.engine) as conn:
        checkpoint = ledger.latest_checkpoint(conn)
        if checkpoint is None:
            raise DrawRefused("the log is empty: there is nothing to draw from")
        # A trial on today's state: refuse before recording what could not be drawn.
        _drawn(conn, policy, checkpoint.size, b"", count, scope, asked.draw_id)
    try:
        request = append(entry)
        with read_transaction(ledger.engine) as conn:
            draw = draw_for_request(conn, ledger, policy, request)
        return MadeDraw(draw, request, append(draw.entry(actor)))
    except EntryRejected as exc:  # an id taken by another draw, say
        raise DrawRefused(str(exc)) from exc


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
        recorded, recomputed = self.recorded, self.recomputed
        for name in ("seed_size", "population", "count", "scope", "policy"):
            if getattr(recorded, name) != getattr(recomputed, name):
                out.append(
                    f"{name} recorded {getattr(recorded, name)}, "
                    f"recomputed {getattr(recomputed, name)}"
                )
        for i, (a, b) in enumerate(zip(recorded.picks, recomputed.picks, strict=False)):
            if a != b:
                out.append(f"pick {i}: recorded {a}, recomputed {b}")
        if recorded.inspectors != recomputed.inspectors:
            out.append(
                f"inspectors recorded {recorded.inspectors}, recomputed {recomputed.inspectors}"
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
        payload.get("policy"),
        payload.get("request"),
    )


def _payload(ledger: Ledger, conn: Connection, index: int, what: str) -> dict[str, Any]:
    stored = ledger.entry(index, conn)
    if stored is None or stored.payload is None:
        raise DrawRefused(f"{what} (entry {index}) is redacted: nothing to recompute")
    found: dict[str, Any] = json.loads(stored.payload)
    return found


def _recompute(conn: Connection, ledger: Ledger, policy: Policy, recorded: Draw) -> Draw:
    """What the recorded draw should have been: from its request when it names one."""
    if recorded.request is not None:
        kind = parse_envelope_kind(ledger, conn, recorded.request)
        if kind != "draw.requested":
            raise DrawRefused(f"entry {recorded.request} is a {kind}, not a draw.requested")
        asked = _request_of(_payload(ledger, conn, recorded.request, "the request"))
        if asked.draw_id != recorded.draw_id:
            raise DrawRefused(f"the request (entry {recorded.request}) is for draw {asked.draw_id}")
        try:
            named = load_policy(asked.policy)
        except PolicyError as exc:
            raise DrawRefused(f"the request names policy {asked.policy}: {exc}") from exc
        return draw_for_request(conn, ledger, named, recorded.request)
    checkpoint = ledger.checkpoint_at(recorded.seed_size, conn)
    if checkpoint is None:
        raise DrawRefused(f"no checkpoint of size {recorded.seed_size}")
    return _drawn(
        conn,
        policy,
        recorded.seed_size,
        draw_seed(checkpoint.root),
        recorded.count,
        recorded.scope,
        recorded.draw_id,
    )


def parse_envelope_kind(ledger: Ledger, conn: Connection, index: int) -> str:
    stored = ledger.entry(index, conn)
    if stored is None:
        raise DrawRefused(f"entry {index} is not stored")
    return parse_envelope(stored.leaf_input).kind


def verify_draw(conn: Connection, ledger: Ledger, policy: Policy, draw_id: str) -> DrawCheck:
    """Recompute the recorded draw ``draw_id`` from the ledger. A draw made on request is
    redrawn from its request entry (what was asked for, under the policy it names) and the
    first checkpoint covering it; one of the earlier form from its own fields and the
    checkpoint of its seed size, under ``policy``."""
    draws = LIVE["proj_draws"]
    entry = conn.execute(select(draws.c.entry).where(draws.c.draw_id == draw_id)).scalar()
    if entry is None:
        raise DrawRefused(f"no draw {draw_id} is recorded")
    recorded = _recorded(_payload(ledger, conn, entry, f"draw {draw_id}"))
    try:
        recomputed = _recompute(conn, ledger, policy, recorded)
    except DrawRefused as exc:
        return DrawCheck(draw_id, entry, recorded, None, str(exc))
    check = DrawCheck(draw_id, entry, recorded, recomputed, None)
    if check.differences():
        return DrawCheck(draw_id, entry, recorded, recomputed, "; ".join(check.differences()))
    return check
