"""Facts from the projection tables: a few indexed queries for many enterprises at once.

``load_facts(conn, usccs)`` reads, for each enterprise, its filing, violations, the
inspections of the batches it declared, its declarations, blacklist events, repairs and
recorded grades, every row with the entry behind it (``credit.facts``). No ledger scan:
each table is read by an indexed ``uscc`` (or declarant) column.

The statements are plain text on the driver's cursor: a regrade inside an append reads
one or two enterprises, and there the SQL layer's per-statement cost is most of the time.

Imports ``ledger.records`` (the tables), ``ledger.store`` and ``credit``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from credit.facts import (
    BlacklistEvent,
    Declaration,
    Facts,
    GradeRecord,
    Inspection,
    Repair,
    Violation,
)
from ledger.records.kinds import record_date
from ledger.records.tables import LIVE, Tables
from ledger.store.engine import driver_connection

CHUNK = 500  # keys per IN list on SQLite

# One statement per table, ``{t}`` naming its table (live or prefixed) and ``{keys}``
# the condition on the enterprise column.
QUERIES = {
    "enterprises": "SELECT uscc, filed_on, filed_entry, roles, status "
    "FROM {proj_enterprises} WHERE uscc {keys}",
    "violations": "SELECT entry, uscc, item, occurred_on, fine_fen, revoked_entry "
    "FROM {proj_violations} WHERE uscc {keys}",
    "inspections": "SELECT i.entry, i.gtin, i.batch, i.outcome, i.inspected_on, "
    "b.declarant_uscc FROM {proj_inspections} i JOIN {proj_batches} b "
    "ON i.gtin = b.gtin AND i.batch = b.batch WHERE b.declarant_uscc {keys}",
    "declarations": "SELECT declared_entry, declarant_uscc, declared_time FROM {proj_batches} "
    "WHERE declared_entry IS NOT NULL AND declarant_uscc {keys}",
    "blacklist": "SELECT entry, uscc, event, time FROM {proj_blacklist_events} WHERE uscc {keys}",
    "repairs": "SELECT entry, uscc, decided_entry, approved FROM {proj_repairs} WHERE uscc {keys}",
    "grades": "SELECT entry, uscc, grade, policy, graded_time FROM {proj_grades} WHERE uscc {keys}",
}


@lru_cache(maxsize=256)
def _sql(query: str, prefix: str, sqlite: bool, count: int) -> str:
    names = {name: f"{prefix}{name}" for name in LIVE.names()}
    # PostgreSQL: one array parameter, one plan whatever the count.
    keys = f"IN ({', '.join(['?'] * count)})" if sqlite else "= ANY(%s::text[])"
    return QUERIES[query].format(keys=keys, **names)


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


class _Reader:
    """Runs the statements on the driver's cursor, a chunk of keys at a time."""

    def __init__(self, conn: Connection, tables: Tables) -> None:
        self.cursor = driver_connection(conn).cursor()
        self.sqlite = conn.dialect.name == "sqlite"
        self.prefix = tables.prefix

    def rows(self, query: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        if not keys:
            return
        if not self.sqlite:
            self.cursor.execute(_sql(query, self.prefix, False, 0), (list(keys),))
            yield from self.cursor.fetchall()
            return
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start : start + CHUNK])
            self.cursor.execute(_sql(query, self.prefix, True, len(chunk)), chunk)
            yield from self.cursor.fetchall()

    def close(self) -> None:
        self.cursor.close()


def load_facts(
    conn: Connection,
    usccs: Iterable[str],
    tables: Tables = LIVE,
    *,
    declarations: bool = True,
    include_revoked: bool = False,
) -> dict[str, Facts]:
    """The facts of each filed enterprise among ``usccs`` (absent ones are left out, and
    revoked ones unless ``include_revoked``: a revoked enterprise is not graded).

    ``declarations`` may be turned off when the policy does not read them (it is the
    largest table an enterprise has rows in)."""
    reader = _Reader(conn, tables)
    try:
        return _load(reader, sorted(set(usccs)), declarations, include_revoked)
    finally:
        reader.close()


def _load(
    reader: _Reader, keys: list[str], declarations: bool, include_revoked: bool
) -> dict[str, Facts]:
    base: dict[str, tuple[dt.date, int, list[str]]] = {}
    for uscc, filed_on, filed_entry, roles, status in reader.rows("enterprises", keys):
        if filed_entry is None or (status == "revoked" and not include_revoked):
            continue  # its filing was redacted, or it is revoked: nothing to grade
        base[uscc] = (_day(filed_on), filed_entry, list(json.loads(roles or "[]") or ()))
    found = sorted(base)
    violations: dict[str, list[Violation]] = {}
    for entry, uscc, item, occurred_on, fine, revoked in reader.rows("violations", found):
        violation = Violation(entry, item, _day(occurred_on), fine, revoked)
        violations.setdefault(uscc, []).append(violation)
    inspections: dict[str, list[Inspection]] = {}
    for entry, gtin, batch, outcome, on, uscc in reader.rows("inspections", found):
        inspection = Inspection(entry, f"{gtin}/{batch}", outcome, _day(on))
        inspections.setdefault(uscc, []).append(inspection)
    declared: dict[str, list[Declaration]] = {}
    if declarations:
        for entry, uscc, time in reader.rows("declarations", found):
            if time:
                declared.setdefault(uscc, []).append(Declaration(entry, record_date(time)))
    blacklist: dict[str, list[BlacklistEvent]] = {}
    for entry, uscc, event, time in reader.rows("blacklist", found):
        blacklist.setdefault(uscc, []).append(BlacklistEvent(entry, event, record_date(time)))
    repairs: dict[str, list[Repair]] = {}
    for entry, uscc, decided, approved in reader.rows("repairs", found):
        verdict = None if approved is None else bool(approved)
        repairs.setdefault(uscc, []).append(Repair(entry, decided, verdict))
    grades: dict[str, list[GradeRecord]] = {}
    for entry, uscc, grade, policy, time in reader.rows("grades", found):
        if time:
            grades.setdefault(uscc, []).append(GradeRecord(entry, grade, policy, record_date(time)))
    return {
        uscc: Facts.in_order(
            uscc,
            filed_on,
            filed_entry,
            roles,
            violations=violations.get(uscc, []),
            inspections=inspections.get(uscc, []),
            declarations=declared.get(uscc, []),
            blacklist=blacklist.get(uscc, []),
            repairs=repairs.get(uscc, []),
            grades=grades.get(uscc, []),
        )
        for uscc, (filed_on, filed_entry, roles) in base.items()
    }
