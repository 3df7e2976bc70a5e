"""What a record kind does to the current state, declared: the ``Handler`` and its parts.

A handler names the rows its record needs (``references``: what must exist, or must
not yet), the cross-record ``rules`` beyond them, its projection writes (``apply``),
whether its entry creates a row that names it, and who may write it. The references
serve twice: ``prefetch`` loads their rows for a whole batch up front, and ``check``
requires them one record at a time, in the order they are declared (the first broken
one is the reason given).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from ledger.records.kinds import RecordError
from ledger.records.state import AssumptionFailed, Key, Payload, ProjectionState, Row

ItemCheck = Callable[[str], str | None]
"""Returns why a violation item is refused (not in the active catalogue), or None."""

Rule = Callable[[ProjectionState, Payload, str, ItemCheck | None], None]
"""A cross-record rule: raises RecordError for ``(state, record, time, item_check)``."""

Apply = Callable[[ProjectionState, Payload, int, str, str], None]
"""Changes the state as ``(state, record, index, time, subject)`` says."""

Writer = Literal["officer", "enterprise", "product owner"]
"""Who may write a kind besides officers: nobody else ("officer"); an enterprise about
itself ("enterprise": every ``*uscc`` field of the record is its own); the enterprise
that owns the product the record names ("product owner": the product's filing names it
as ``owner_uscc``, and every ``*uscc`` field of the record is its own)."""


def _missing(state: ProjectionState, table: str, key: Key) -> None:
    """Nothing may be refused for a row that was assumed absent without looking."""
    if key in state.assumed[table]:
        raise AssumptionFailed(f"{table} {'/'.join(map(str, key))} was assumed new, not looked up")


@dataclass(frozen=True)
class Enterprise:
    """The enterprise named by ``field`` is filed and not revoked."""

    field: str = "uscc"
    optional: bool = False
    table = "proj_enterprises"

    def keys(self, record: Payload) -> Iterable[Key]:
        value = record.get(self.field)
        return ((value,),) if value else ()

    def require(self, state: ProjectionState, record: Payload) -> None:
        uscc = record.get(self.field) if self.optional else record[self.field]
        if uscc:
            enterprise_row(state, uscc, self.field)


@dataclass(frozen=True)
class Product:
    """The product named by ``field`` is filed and not revoked."""

    field: str = "gtin"
    optional: bool = False
    table = "proj_products"

    def keys(self, record: Payload) -> Iterable[Key]:
        value = record.get(self.field)
        return ((value,),) if value else ()

    def require(self, state: ProjectionState, record: Payload) -> None:
        gtin = record.get(self.field) if self.optional else record[self.field]
        if gtin:
            product_row(state, gtin, self.field)


@dataclass(frozen=True)
class Batch:
    """The batch ``field`` of the record's product is declared."""

    field: str = "batch"
    table = "proj_batches"

    def keys(self, record: Payload) -> Iterable[Key]:
        return ((record["gtin"], record[self.field]),)

    def require(self, state: ProjectionState, record: Payload) -> None:
        batch_declared(state, record["gtin"], record[self.field], self.field)


@dataclass(frozen=True)
class Batches:
    """Every batch listed in ``field`` of the record's product is declared."""

    field: str = "batches"
    table = "proj_batches"

    def keys(self, record: Payload) -> Iterable[Key]:
        gtin = record["gtin"]
        return [(gtin, batch) for batch in record[self.field]]

    def require(self, state: ProjectionState, record: Payload) -> None:
        for batch in record[self.field]:
            batch_declared(state, record["gtin"], batch, self.field)


@dataclass(frozen=True)
class New:
    """The row this record creates is not there yet (its ``marker`` column unset).

    The keys of a New reference may be assumed absent by a sequencer that follows its
    own batch (``prefetch(assume_new=True)``): the primary key then refuses a row that
    is stored after all, and the batch runs again with every lookup.
    """

    table: str
    fields: tuple[str, ...]
    refused: Callable[[Payload, Row], str]  # the reason, given the record and the stored row
    marker: str | None = None  # a column set only once the row's own record is applied

    @property
    def field(self) -> str:
        return self.fields[-1]

    def key(self, record: Payload) -> Key:
        return tuple([record[f] for f in self.fields])

    def keys(self, record: Payload) -> Iterable[Key]:
        return (self.key(record),)

    def require(self, state: ProjectionState, record: Payload) -> None:
        row = state.get(self.table, self.key(record))
        if row is not None and (self.marker is None or row[self.marker] is not None):
            raise RecordError(self.refused(record, row), self.field)


@dataclass(frozen=True)
class FollowUp:
    """The entry named by ``field`` is a ``what`` of the same ``owner``, not followed up yet;
    applying the record sets its ``done`` column."""

    table: str
    field: str
    what: str
    done: str
    owner: str

    def keys(self, record: Payload) -> Iterable[Key]:
        return ((record[self.field],),)

    def require(self, state: ProjectionState, record: Payload) -> None:
        entry, owner = record[self.field], record[self.owner]
        row = state.get(self.table, (entry,))
        if row is None or row[self.owner] != owner:
            raise RecordError(
                f"entry {entry} is not a {self.what} of {self.owner} {owner}", self.field
            )
        if row[self.done] is not None:
            raise RecordError(
                f"{self.what} {entry} was already followed up by entry {row[self.done]}", self.field
            )


Reference = Enterprise | Product | Batch | Batches | New | FollowUp


@dataclass(frozen=True)
class Handler:
    """Everything one record kind does to the current state."""

    kind: str
    apply: Apply
    references: tuple[Reference, ...] = ()
    rules: tuple[Rule, ...] = ()
    # Its entry creates a row that names it (tables.ENTRY_COLUMN); the entries of every
    # other kind are listed in proj_subject_entries.
    owns_row: bool = False
    writer: Writer = "officer"
    # False: only the service's own paths write it (the regrader its grades, the code
    # issuance its roots, the draw route its draws), never a caller's POST /v1/records.
    through_records: bool = True

    @property
    def follows_up(self) -> FollowUp | None:
        """The reference to the earlier entry this record follows up, if it is one."""
        return next((r for r in self.references if isinstance(r, FollowUp)), None)

    def check(
        self, state: ProjectionState, record: Payload, time: str, item_check: ItemCheck | None
    ) -> None:
        for reference in self.references:
            reference.require(state, record)
        for rule in self.rules:
            rule(state, record, time, item_check)


# --- rows the references and rules require ----------------------------------------


def enterprise_row(state: ProjectionState, uscc: str, field: str) -> Row:
    row = state.get("proj_enterprises", (uscc,))
    if row is None:
        _missing(state, "proj_enterprises", (uscc,))
        raise RecordError(f"enterprise {uscc} is not filed", field)
    if row["status"] == "revoked":
        raise RecordError(f"enterprise {uscc} is revoked (entry {row['revoked_entry']})", field)
    return row


def product_row(state: ProjectionState, gtin: str, field: str) -> Row:
    row = state.get("proj_products", (gtin,))
    if row is None:
        _missing(state, "proj_products", (gtin,))
        raise RecordError(f"product {gtin} is not filed", field)
    if row["status"] == "revoked":
        raise RecordError(f"product {gtin} is revoked (entry {row['revoked_entry']})", field)
    return row


def batch_declared(state: ProjectionState, gtin: str, batch: str, field: str) -> Row:
    row = state.get("proj_batches", (gtin, batch))
    if row is None or row["declared_entry"] is None:
        if row is None:
            _missing(state, "proj_batches", (gtin, batch))
        raise RecordError(f"batch {batch} of {gtin} is not declared", field)
    return row


# --- helpers of the projection writes ------------------------------------------------


def update(state: ProjectionState, table: str, key: Key, /, **changes: Any) -> None:
    """Change columns of a stored row; its subject's earlier entry may have been redacted."""
    row = state.get(table, key)
    if row is not None:
        row.update(changes)
        state.put(table, row, key)


@lru_cache(maxsize=1024)
def _json_of(values: tuple[Any, ...]) -> str:
    return json.dumps(list(values))


def json_list(values: list[Any] | None) -> str:
    """A list column as stored (``json.dumps``); short lists repeat, so they are cached."""
    if values is None:
        return "null"
    return _json_of(tuple(values)) if len(values) <= 8 else json.dumps(values)
