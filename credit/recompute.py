"""Applying time, and checking recorded grades against the facts.

``recompute`` regrades every active enterprise as of today (violations leaving the
cycle, the 180- and 365-day conditions, automatic repair) through the ledger's
``Regrader``, a chunk of enterprises per batch, so the new ``credit.graded`` entries are
appended exactly as a regrade after a record would be. ``verify_grades`` recomputes
each recorded ``credit.graded`` from the facts at its tree size and date and reports
every difference.

Imports ``ledger.records``, ``ledger.store`` and ``credit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection, select

from credit.engine import grade
from credit.facts import Declaration, Facts, Inspection
from credit.policy import Policy, load_policy
from credit.regrade import DECLARATION, Regrader
from credit.store import load_facts
from ledger.errors import Misconfigured
from ledger.records.kinds import record_date
from ledger.records.tables import LIVE, subject_keys
from ledger.store import statements
from ledger.store.engine import read_transaction
from ledger.store.log import Ledger
from ledger.tlog.envelope import parse_envelope

RECOMPUTE_CHUNK = 2_000  # enterprises per batch


class NoRegrader(Misconfigured):
    """The ledger was opened without the credit hook, so it cannot regrade."""


def regrader_of(ledger: Ledger) -> Regrader:
    found = next((h for h in ledger.hooks if isinstance(h, Regrader)), None)
    if found is None:
        raise NoRegrader("this ledger has no Regrader hook: open it with the credit hooks")
    return found


def active_enterprises(conn: Connection) -> list[str]:
    ent = LIVE["proj_enterprises"]
    query = select(ent.c.uscc).where(ent.c.status == "active").order_by(ent.c.uscc)
    return [uscc for (uscc,) in conn.execute(query)]


@dataclass
class RecomputeReport:
    enterprises: int = 0
    changed: int = 0
    batches: int = 0


def recompute(
    ledger: Ledger,
    usccs: Iterable[str] | None = None,
    chunk: int = RECOMPUTE_CHUNK,
    progress: Callable[[int], object] | None = None,
) -> RecomputeReport:
    """Regrade ``usccs`` (default: every active enterprise) as of now; append changes."""
    regrader = regrader_of(ledger)
    if usccs is None:
        with read_transaction(ledger.engine) as conn:
            usccs = active_enterprises(conn)
    keys = sorted(set(usccs))
    report = RecomputeReport(enterprises=len(keys))
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        regrader.queue(part)
        result = ledger.append([])
        report.changed += len(result.leaf_hashes)
        report.batches += 1
        if progress:
            progress(len(part))
    return report


@dataclass(frozen=True)
class Mismatch:
    entry: int
    uscc: str
    recorded: dict[str, object]
    recomputed: dict[str, object]

    def describe(self) -> str:
        differs = [
            f"{name} recorded {self.recorded[name]!r}, recomputed {self.recomputed[name]!r}"
            for name in self.recorded
            if self.recorded[name] != self.recomputed[name]
        ]
        return f"entry {self.entry} ({self.uscc}): " + "; ".join(differs)


@dataclass(frozen=True)
class Unverifiable:
    """A recorded grade whose facts included a payload redacted since: the ledger no
    longer says what that fact was, so the grade cannot be recomputed (and differs)."""

    entry: int
    uscc: str
    redacted: tuple[tuple[int, int], ...]  # (the entry redacted, the redaction)

    def describe(self) -> str:
        which = ", ".join(f"entry {t} (redacted by entry {r})" for t, r in self.redacted)
        return (
            f"entry {self.entry} ({self.uscc}): graded before a fact behind it was "
            f"redacted, {which}; it cannot be recomputed from what the ledger now holds"
        )


@dataclass
class VerifyGradesReport:
    checked: int = 0
    mismatches: list[Mismatch] | None = None
    unverifiable: list[Unverifiable] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def redactions_by_enterprise(conn: Connection) -> dict[str, list[tuple[int, int]]]:
    """Each enterprise's redacted facts, (the entry redacted, the redaction): entries of
    its own subject, and of the batches it declared."""
    found: dict[str, list[tuple[int, int]]] = {}
    batches = LIVE["proj_batches"]
    for target, redaction in sorted(statements.all_redactions(conn).items()):
        envelope = statements.envelope_at(conn, target)
        if envelope is None:
            continue
        family, values = subject_keys(parse_envelope(envelope).subject)
        owner: str | None = None
        if family == "uscc":
            owner = values[0]
        elif family == "batch":
            owner = conn.execute(
                select(batches.c.declarant_uscc).where(
                    batches.c.gtin == values[0], batches.c.batch == values[1]
                )
            ).scalar()
        if owner:
            found.setdefault(owner, []).append((target, redaction))
    return found


@dataclass(frozen=True)
class RedactedDeclaration:
    """A ``batch.declared`` whose payload was redacted: the ledger no longer says who
    declared the batch, and so whose facts its inspections were until the redaction."""

    target: int
    redaction: int
    declared_on: dt.date
    inspections: tuple[Inspection, ...]  # of the batch, recorded before the redaction

    def given_back(self, facts: Facts) -> Facts:
        """``facts`` as they were if the enterprise had made the declaration."""
        return replace(
            facts,
            inspections=facts.inspections + self.inspections,
            declarations=(*facts.declarations, Declaration(self.target, self.declared_on)),
        ).sorted()


def redacted_declarations(conn: Connection) -> list[RedactedDeclaration]:
    inspections = LIVE["proj_inspections"]
    found = []
    for target, redaction in sorted(statements.all_redactions(conn).items()):
        envelope = statements.envelope_at(conn, target)
        if envelope is None:
            continue
        parsed = parse_envelope(envelope)
        if parsed.kind != DECLARATION:
            continue
        _, values = subject_keys(parsed.subject)
        gtin, batch = values[0], values[1]
        rows = conn.execute(
            select(inspections).where(
                inspections.c.gtin == gtin,
                inspections.c.batch == batch,
                inspections.c.entry < redaction,
            )
        )
        found.append(
            RedactedDeclaration(
                target,
                redaction,
                record_date(parsed.time),
                tuple(
                    Inspection(
                        r.entry,
                        f"{gtin}/{batch}",
                        r.outcome,
                        dt.date.fromisoformat(r.inspected_on[:10]),
                    )
                    for r in rows
                ),
            )
        )
    return found


def _recomputed(
    facts: Facts | None, graded_time: str | None, policy: Policy, size: int
) -> dict[str, object]:
    if facts is None or graded_time is None:
        return {"grade": None, "score": None, "reasons_digest": None}
    result = grade(facts.up_to(size), policy, record_date(graded_time))
    return {"grade": result.grade, "score": result.score, "reasons_digest": result.reasons_digest}


def verify_grades(conn: Connection, usccs: Iterable[str] | None = None) -> VerifyGradesReport:
    """Recompute every recorded ``credit.graded`` (of ``usccs``, default all) from the
    facts at its ``as_of_size`` on its entry's day, under the policy it names.

    The facts are what the ledger holds now: a redacted payload is no fact (the redaction's
    batch regraded without it). A grade recorded before such a redaction, on facts that
    included it, that no longer recomputes is reported as unverifiable, naming the
    redaction, not as a mismatch."""
    grades = LIVE["proj_grades"]
    query = select(grades).order_by(grades.c.entry)
    if usccs is not None:
        query = query.where(grades.c.uscc.in_(sorted(set(usccs))))
    rows = list(conn.execute(query))
    policies: dict[str, Policy] = {}
    facts = load_facts(conn, {r.uscc for r in rows}, include_revoked=True)
    redacted = redactions_by_enterprise(conn)
    declarations = redacted_declarations(conn)
    report = VerifyGradesReport(mismatches=[])
    for row in rows:
        policy = policies.get(row.policy) or policies.setdefault(
            row.policy, load_policy(row.policy)
        )
        held = facts.get(row.uscc)
        recomputed = _recomputed(held, row.graded_time, policy, row.as_of_size)
        recorded: dict[str, object] = {
            "grade": row.grade,
            "score": row.score,
            "reasons_digest": row.reasons_digest,
        }
        report.checked += 1
        if recorded == recomputed:
            continue
        since = tuple(
            (target, redaction)
            for target, redaction in redacted.get(row.uscc, ())
            if target < row.as_of_size <= redaction
        )
        if not since and held is not None:
            # A declaration redacted since names no declarant any more: the grade is the
            # redaction's doing if it recomputes once the declaration is given back.
            since = tuple(
                (d.target, d.redaction)
                for d in declarations
                if d.target < row.as_of_size <= d.redaction
                and _recomputed(d.given_back(held), row.graded_time, policy, row.as_of_size)
                == recorded
            )
        if since:
            report.unverifiable.append(Unverifiable(row.entry, row.uscc, since))
            continue
        assert report.mismatches is not None
        report.mismatches.append(Mismatch(row.entry, row.uscc, recorded, recomputed))
    return report
