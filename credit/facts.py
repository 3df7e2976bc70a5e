"""The facts of one enterprise that a grading reads: plain values, each naming its entry.

``Facts`` is what the engine takes: every fact carries the ledger index of the entry
behind it (and of the entry that revoked or decided it, if any), so ``up_to(size)``
gives the facts as they stood at any earlier tree size without reading the ledger
again. ``credit.store`` builds them from the projection tables.

Imports only the standard library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter, le
from typing import Any


@dataclass(frozen=True, order=True)
class Violation:
    entry: int
    item: str
    occurred_on: dt.date
    fine_fen: int | None = None
    revoked_entry: int | None = None


@dataclass(frozen=True, order=True)
class Inspection:
    """One inspection of a batch the enterprise declared."""

    entry: int
    batch: str  # gtin/batch
    outcome: str  # conformant, non_conformant
    inspected_on: dt.date


@dataclass(frozen=True, order=True)
class Declaration:
    entry: int
    declared_on: dt.date


@dataclass(frozen=True, order=True)
class BlacklistEvent:
    entry: int
    event: str  # noticed, listed, removed
    on: dt.date


@dataclass(frozen=True, order=True)
class Repair:
    request_entry: int
    decided_entry: int | None = None
    approved: bool | None = None


@dataclass(frozen=True, order=True)
class GradeRecord:
    """A recorded ``credit.graded``: the grade held from ``on`` until the next one."""

    entry: int
    grade: str
    policy: str
    on: dt.date


@dataclass(frozen=True)
class Facts:
    uscc: str
    filed_on: dt.date | None = None
    filed_entry: int | None = None
    roles: tuple[str, ...] = ()
    violations: tuple[Violation, ...] = ()
    inspections: tuple[Inspection, ...] = ()
    declarations: tuple[Declaration, ...] = ()
    blacklist: tuple[BlacklistEvent, ...] = ()
    repairs: tuple[Repair, ...] = ()
    grades: tuple[GradeRecord, ...] = field(default=())

    def up_to(self, size: int) -> Facts:
        """The facts as they stood when the tree held ``size`` entries."""

        def before(entry: int | None) -> int | None:
            return entry if entry is not None and entry < size else None

        filed = self.filed_entry is not None and self.filed_entry < size
        return replace(
            self,
            filed_on=self.filed_on if filed else None,
            filed_entry=self.filed_entry if filed else None,
            violations=tuple(
                replace(v, revoked_entry=before(v.revoked_entry))
                for v in self.violations
                if v.entry < size
            ),
            inspections=tuple(i for i in self.inspections if i.entry < size),
            declarations=tuple(d for d in self.declarations if d.entry < size),
            blacklist=tuple(b for b in self.blacklist if b.entry < size),
            repairs=tuple(
                Repair(r.request_entry, before(r.decided_entry), r.approved)
                if before(r.decided_entry) is not None
                else Repair(r.request_entry)
                for r in self.repairs
                if r.request_entry < size
            ),
            grades=tuple(g for g in self.grades if g.entry < size),
        )

    def sorted(self) -> Facts:
        """The same facts in entry order, whatever order they were read in (each entry
        is one fact of its kind, so the entry alone orders them); these facts themselves
        when they are in order already, as ``credit.store`` reads them."""
        if self._in_order():
            return self
        return replace(
            self,
            roles=tuple(sorted(self.roles)),
            violations=tuple(sorted(self.violations, key=_entry)),
            inspections=tuple(sorted(self.inspections, key=_entry)),
            declarations=tuple(sorted(self.declarations, key=_entry)),
            blacklist=tuple(sorted(self.blacklist, key=_entry)),
            repairs=tuple(sorted(self.repairs, key=_request)),
            grades=tuple(sorted(self.grades, key=_entry)),
        )

    @classmethod
    def in_order(
        cls,
        uscc: str,
        filed_on: dt.date | None,
        filed_entry: int | None,
        roles: list[str],
        *,
        violations: list[Violation],
        inspections: list[Inspection],
        declarations: list[Declaration],
        blacklist: list[BlacklistEvent],
        repairs: list[Repair],
        grades: list[GradeRecord],
    ) -> Facts:
        """Facts built from lists in any order, each sorted in place as ``sorted`` orders
        it: built once, not built and then re-sorted (the lists are the caller's)."""
        roles.sort()
        for facts in (violations, inspections, declarations, blacklist, grades):
            facts.sort(key=_entry)
        repairs.sort(key=_request)
        return cls(
            uscc,
            filed_on,
            filed_entry,
            tuple(roles),
            tuple(violations),
            tuple(inspections),
            tuple(declarations),
            tuple(blacklist),
            tuple(repairs),
            tuple(grades),
        )

    def _in_order(self) -> bool:
        return (
            _ascending(self.roles)
            and _ascending(self.violations, _entry)
            and _ascending(self.inspections, _entry)
            and _ascending(self.declarations, _entry)
            and _ascending(self.blacklist, _entry)
            and _ascending(self.repairs, _request)
            and _ascending(self.grades, _entry)
        )


def _ascending(items: Sequence[Any], key: Callable[[Any], Any] | None = None) -> bool:
    if len(items) < 2:
        return True
    keys = items if key is None else list(map(key, items))
    return all(map(le, keys, keys[1:]))


_entry = attrgetter("entry")
_request = attrgetter("request_entry")
