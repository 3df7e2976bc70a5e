"""Facts from the projection tables: a few indexed queries for many enterprises at once.

``load_facts(conn, usccs)`` reads, for each enterprise, its filing, violations, the
inspections of the batches it declared, its declarations, blacklist events, repairs and
recorded grades, every row with the entry behind it (``credit.facts``). No ledger scan:
each table is read by an indexed ``uscc`` (or declarant) column.

Imports ``ledger.records`` (the tables) and ``credit``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, and_, select

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

CHUNK = 500  # keys per IN list


def _chunks(keys: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield list(keys[start : start + CHUNK])


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def _rows(conn: Connection, query: Any, column: Any, keys: Sequence[str]) -> Iterator[Any]:
    for chunk in _chunks(keys):
        yield from conn.execute(query.where(column.in_(chunk))).all()


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
    keys = sorted(set(usccs))
    ent, vio, ins, bat = (
        tables["proj_enterprises"],
        tables["proj_violations"],
        tables["proj_inspections"],
        tables["proj_batches"],
    )
    black, rep, grd = tables["proj_blacklist_events"], tables["proj_repairs"], tables["proj_grades"]
    base: dict[str, Facts] = {}
    for row in _rows(
        conn,
        select(ent.c.uscc, ent.c.filed_on, ent.c.filed_entry, ent.c.roles, ent.c.status),
        ent.c.uscc,
        keys,
    ):
        if row.filed_entry is None or (row.status == "revoked" and not include_revoked):
            continue  # its filing was redacted, or it is revoked: nothing to grade
        roles = tuple(json.loads(row.roles or "[]") or ())
        base[row.uscc] = Facts(row.uscc, _day(row.filed_on), row.filed_entry, roles)
    found = sorted(base)
    parts: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    query = select(
        vio.c.entry, vio.c.uscc, vio.c.item, vio.c.occurred_on, vio.c.fine_fen, vio.c.revoked_entry
    )
    for r in _rows(conn, query, vio.c.uscc, found):
        parts[r.uscc]["violations"].append(
            Violation(r.entry, r.item, _day(r.occurred_on), r.fine_fen, r.revoked_entry)
        )
    joined = ins.join(bat, and_(ins.c.gtin == bat.c.gtin, ins.c.batch == bat.c.batch))
    query = select(
        ins.c.entry,
        ins.c.gtin,
        ins.c.batch,
        ins.c.outcome,
        ins.c.inspected_on,
        bat.c.declarant_uscc,
    ).select_from(joined)
    for r in _rows(conn, query, bat.c.declarant_uscc, found):
        parts[r.declarant_uscc]["inspections"].append(
            Inspection(r.entry, f"{r.gtin}/{r.batch}", r.outcome, _day(r.inspected_on))
        )
    if declarations:
        query = select(bat.c.declared_entry, bat.c.declarant_uscc, bat.c.declared_time).where(
            bat.c.declared_entry.is_not(None)
        )
        for r in _rows(conn, query, bat.c.declarant_uscc, found):
            when = record_date(r.declared_time) if r.declared_time else None
            if when is not None:
                parts[r.declarant_uscc]["declarations"].append(Declaration(r.declared_entry, when))
    query = select(black.c.entry, black.c.uscc, black.c.event, black.c.time)
    for r in _rows(conn, query, black.c.uscc, found):
        parts[r.uscc]["blacklist"].append(BlacklistEvent(r.entry, r.event, record_date(r.time)))
    query = select(rep.c.entry, rep.c.uscc, rep.c.decided_entry, rep.c.approved)
    for r in _rows(conn, query, rep.c.uscc, found):
        parts[r.uscc]["repairs"].append(Repair(r.entry, r.decided_entry, r.approved))
    query = select(grd.c.entry, grd.c.uscc, grd.c.grade, grd.c.policy, grd.c.graded_time)
    for r in _rows(conn, query, grd.c.uscc, found):
        if r.graded_time:
            parts[r.uscc]["grades"].append(
                GradeRecord(r.entry, r.grade, r.policy, record_date(r.graded_time))
            )
    return {uscc: _with(facts, parts[uscc]) for uscc, facts in base.items()}


def _with(facts: Facts, parts: dict[str, list[Any]]) -> Facts:
    return replace(
        facts,
        violations=tuple(parts["violations"]),
        inspections=tuple(parts["inspections"]),
        declarations=tuple(parts["declarations"]),
        blacklist=tuple(parts["blacklist"]),
        repairs=tuple(parts["repairs"]),
        grades=tuple(parts["grades"]),
    ).sorted()
