"""Dynamic regrading inside the append transaction, and the credit rules the ledger runs.

``Regrader`` is a ledger batch hook that follows the ``Projector``: while the batch is
checked it notes every enterprise whose facts a record changes; once the projector has
written the batch's effects it grades each of them once (so a bulk import regrades an
enterprise once per batch, not once per record) and, where the grade changed, adds a
``credit.graded`` entry (actor ``system:credit``) to the same batch. The grade history
is itself on the ledger and never lags it.

``graded_entry`` is also what ``credtrace credit recompute`` appends when time alone
changed a grade; ``credit_rules`` are the due-process rules the projector runs before a
repair request or a blacklist removal is applied.

Imports ``ledger.records``, ``ledger.store`` and ``credit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from credit.catalogue import violation_item_check
from credit.due_process import removal_refusal, repair_refusal
from credit.engine import Grading, grade
from credit.facts import Facts
from credit.policy import DEFAULT_POLICY, Policy, load_policy
from credit.store import load_facts
from ledger.records.handler import ItemCheck, Rule
from ledger.records.kinds import RecordError, record_date
from ledger.records.projector import Projector
from ledger.records.state import Payload, ProjectionState
from ledger.records.tables import subject_keys
from ledger.store import statements
from ledger.store.entries import BatchHook, NewEntry, trusted_entry
from ledger.tlog.envelope import parse_envelope
from ledger.tlog.jcs import canonicalize

CREDIT_ACTOR = "system:credit"

# The kinds that change an enterprise's facts, and the field naming the enterprise.
FACT_KINDS: dict[str, str] = {
    "enterprise.filed": "uscc",
    "enterprise.amended": "uscc",
    "violation.recorded": "uscc",
    "violation.revoked": "uscc",
    "blacklist.listed": "uscc",
    "blacklist.removed": "uscc",
    "credit.repair_decided": "uscc",
    "batch.declared": "declarant_uscc",
}
INSPECTION = "inspection.result"  # changes the facts of the batch's declarant
# A declaration changes its declarant's facts too when the batch already holds
# inspections (declared again after a redaction: they become the new declarant's).
DECLARATION = "batch.declared"


def uses_declarations(policy: Policy) -> bool:
    return any(c.metric == "penalty_permille" for r in policy.rules for c in r.conditions)


def current_grade(facts: Facts, policy: Policy) -> str | None:
    """The latest recorded grade under ``policy``, if any."""
    held = [g for g in facts.grades if g.policy == policy.id]
    return held[-1].grade if held else None


def graded_entry(grading: Grading, as_of_size: int, time: str) -> NewEntry:
    """The ``credit.graded`` entry that records ``grading`` at tree size ``as_of_size``."""
    payload = {
        "uscc": grading.uscc,
        "grade": grading.grade,
        "score": grading.score,
        "policy": grading.policy,
        "as_of_size": as_of_size,
        "reasons_digest": grading.reasons_digest,
    }
    # Built here from the engine's output, which fits the kind's schema by construction
    # (tests/test_credit_regrade.py parses it): no second parse per entry on the bulk path.
    return trusted_entry(
        "credit.graded", f"uscc:{grading.uscc}", canonicalize(payload), CREDIT_ACTOR, time
    )


@dataclass
class Regrading:
    """What one regrade pass found: every grading, and the entries for the changes."""

    gradings: dict[str, Grading]
    entries: list[NewEntry]


def regrade(
    conn: Connection, usccs: Sequence[str], policy: Policy, size: int, time: str
) -> Regrading:
    """Grade ``usccs`` on the facts at tree size ``size`` as of the day of ``time`` (in
    China); an entry for each whose grade differs from its last recorded one."""
    as_of = record_date(time)
    facts = load_facts(conn, usccs, declarations=uses_declarations(policy))
    gradings: dict[str, Grading] = {}
    entries = []
    for uscc in sorted(facts):
        result = grade(facts[uscc], policy, as_of)
        gradings[uscc] = result
        if result.grade != current_grade(facts[uscc], policy):
            entries.append(graded_entry(result, size, time))
    return Regrading(gradings, entries)


class Regrader:
    """The batch hook that keeps grades in step with the facts (after the Projector)."""

    def __init__(self, projector: Projector, policy: Policy) -> None:
        self.projector = projector
        self.policy = policy
        # Declarations change only the facts of a policy that reads them.
        self.kinds = {
            kind: field
            for kind, field in FACT_KINDS.items()
            if kind != DECLARATION or uses_declarations(policy)
        }
        self.touched: set[str] = set()
        self.queued: set[str] = set()  # to regrade in the next batch whatever it holds

    def queue(self, usccs: Iterable[str]) -> None:
        """Regrade these in the next batch (an empty one will do): the passage of time."""
        self.queued.update(usccs)

    def begin(self, conn: Connection, entries: Sequence[NewEntry], continuing: bool) -> None:
        self.touched = set(self.queued)  # kept until the batch commits, in case it is retried

    def check(self, entry: NewEntry, index: int, time: str) -> None:
        # Called once the projector accepted and applied the entry.
        if entry.redacts is not None:
            self.touched.update(self._owners_of(entry.redacts))
            return
        field = self.kinds.get(entry.kind)
        if field is None and entry.kind not in (INSPECTION, DECLARATION):
            return
        payload = self.projector.payload_of(entry)
        if field is not None:
            self.touched.add(payload[field])
            return
        batch = self.projector.state.get("proj_batches", (payload["gtin"], payload["batch"]))
        if batch is None or not batch["declarant_uscc"]:
            return
        if entry.kind == INSPECTION or batch["inspection_entry"] is not None:
            self.touched.add(batch["declarant_uscc"])

    def _owners_of(self, target: int) -> set[str]:
        """The enterprises whose facts a redaction of entry ``target`` may change: its
        subject's, or the declarant's of the batch it is about. A redacted payload is no
        fact any more (the projections are rebuilt without it), so they are regraded in
        the redaction's batch, on the facts the ledger still holds."""
        state = self.projector.state
        envelope = statements.envelope_at(state.conn, target)
        if envelope is None:
            return set()
        family, values = subject_keys(parse_envelope(envelope).subject)
        if family == "uscc":
            return {values[0]}
        if family == "batch":
            batch = state.get("proj_batches", (values[0], values[1]))
            if batch is not None and batch["declarant_uscc"]:
                return {batch["declarant_uscc"]}
        return set()

    def more(self, conn: Connection, size: int, time: str) -> Sequence[NewEntry]:
        if not self.touched:
            return ()
        touched, self.touched = sorted(self.touched), set()
        entries = regrade(conn, touched, self.policy, size, time).entries
        if not entries:
            # Nothing changed, so nothing is left to do for the queued ones even if the
            # batch goes no further (a batch with nothing to write never finishes).
            self.queued = set()
        return entries

    def finish(self, conn: Connection, redacted: Sequence[int]) -> None:
        self.touched = set()
        self.queued = set()


# --- due-process rules, run by the projector before the record is applied -------------


def _facts_now(state: ProjectionState, uscc: str, policy: Policy) -> Facts:
    """The enterprise's facts with the batch's own earlier records in them: what the batch
    staged is written first (in its transaction), so a violation and a repair request in
    one import batch are judged as they would be in two."""
    state.flush()
    found = load_facts(state.conn, [uscc], declarations=uses_declarations(policy))
    return found.get(uscc) or Facts(uscc)


def _repair_allowed(policy: Policy) -> Rule:
    def rule(state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None) -> None:
        today = record_date(time)
        facts = _facts_now(state, r["uscc"], policy)
        refusal = repair_refusal(facts, policy, grade(facts, policy, today), today)
        if refusal is not None:
            raise RecordError(refusal.reason, "credit.repair_requested")

    return rule


def _removal_allowed(policy: Policy) -> Rule:
    def rule(state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None) -> None:
        facts = _facts_now(state, r["uscc"], policy)
        refusal = removal_refusal(facts, policy, record_date(time))
        if refusal is not None:
            raise RecordError(refusal.reason, "blacklist.removed")

    return rule


def credit_rules(policy: Policy) -> Mapping[str, Sequence[Rule]]:
    """The rules of ``policy`` that the projector runs for some kinds (see Projector)."""
    return {
        "credit.repair_requested": (_repair_allowed(policy),),
        "blacklist.removed": (_removal_allowed(policy),),
    }


def credit_hooks(policy_id: str = DEFAULT_POLICY) -> list[BatchHook]:
    """The ledger's hooks: the projections with the active policy's catalogue and rules,
    then the regrading that follows them (it reads what the projector wrote)."""
    policy = load_policy(policy_id)
    projector = Projector(violation_item_check(policy_id), rules=credit_rules(policy))
    return [projector, Regrader(projector, policy)]
