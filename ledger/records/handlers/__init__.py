"""One handler per record kind, grouped by subject, and the dispatch through them.

``HANDLERS`` is the one table of what each kind does to the current state; every
kind list the rest of the code needs is derived from it here. ``check`` and
``apply`` refuse a kind without a handler (UnknownKind), never pass over it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ledger.records.handler import FollowUp, Handler, ItemCheck, New
from ledger.records.handlers import (
    batches,
    blacklist,
    codes,
    complaints,
    credit,
    draws,
    enterprises,
    products,
    recalls,
    redaction,
    sanctions,
    violations,
)
from ledger.records.kinds import UnknownKind
from ledger.records.state import Key, Payload, ProjectionState

HANDLERS: dict[str, Handler] = {
    handler.kind: handler
    for module in (
        enterprises,
        products,
        batches,
        violations,
        complaints,
        recalls,
        sanctions,
        blacklist,
        credit,
        codes,
        draws,
        redaction,
    )
    for handler in module.HANDLERS
}

# Kinds whose entry creates a row that names it; the others are in proj_subject_entries.
ROW_KINDS = frozenset(kind for kind, h in HANDLERS.items() if h.owns_row)
# Records that follow up an earlier entry of the same subject, once.
FOLLOW_UPS: dict[str, FollowUp] = {
    kind: h.follows_up for kind, h in HANDLERS.items() if h.follows_up is not None
}
# What an enterprise key may record (always about itself), and the kinds of those that
# name a product it must own.
ENTERPRISE_KINDS = frozenset(kind for kind, h in HANDLERS.items() if h.writer != "officer")
PRODUCT_OWNER_KINDS = frozenset(kind for kind, h in HANDLERS.items() if h.writer == "product owner")
# What no caller records through POST /v1/records: the service writes these itself.
SERVICE_KINDS = frozenset(kind for kind, h in HANDLERS.items() if not h.through_records)


def handler_of(kind: str) -> Handler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise UnknownKind(kind) from None


def check(
    state: ProjectionState, kind: str, record: Payload, time: str, item_check: ItemCheck | None
) -> None:
    """Raise RecordError if ``record`` breaks a rule given the current state."""
    handler_of(kind).check(state, record, time, item_check)


def apply(  # noqa: PLR0917 - the entry's coordinates, in envelope order
    state: ProjectionState, index: int, time: str, kind: str, record: Payload, subject: str
) -> None:
    """Change the state as ``record`` (a ``kind``, entry ``index`` recorded at ``time``) says."""
    handler = handler_of(kind)
    if not handler.owns_row:
        state.subject_entries.append({"subject": subject, "idx": index, "kind": kind})
    handler.apply(state, record, index, time, subject)


def prefetch(
    state: ProjectionState, records: Sequence[tuple[str, Payload]], *, assume_new: bool = False
) -> None:
    """Load the rows these records' references name, a few queries per table.

    With ``assume_new`` the rows that records create (their New reference) are taken
    to be absent unless known, without looking; the caller must then let the primary
    key catch one that is not, and run the batch again without the assumption.
    """
    wanted: dict[str, set[Key]] = defaultdict(set)
    created: dict[str, set[Key]] = defaultdict(set)
    for kind, record in records:
        handler = HANDLERS.get(kind)
        if handler is None:
            continue  # refused by check, one record at a time
        for reference in handler.references:
            into = created if assume_new and isinstance(reference, New) else wanted
            into[reference.table].update(reference.keys(record))
    for table, keys in created.items():
        # Created here, so also not looked up for the records that reference them.
        wanted[table] -= keys
        state.assume_absent(table, keys)
    for table, keys in wanted.items():
        state.load(table, keys)
