"""Current state: cross-record rules and one apply function per record kind.

``ProjectionState`` holds the rows a batch touches in memory (loaded in a few
queries up front), lets the rules read them and the apply functions change
them, and writes every changed row back in one upsert per table. The same
apply functions serve live appends and ``replay``; replay only skips the
rules, since what is in the ledger was already accepted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from ledger import kinds as k
from ledger.kinds import RecordError
from ledger.projections import LIVE, OWNER, Tables, subject_keys

Row = dict[str, Any]
Key = tuple[Any, ...]
BLACKLIST_WAIT = dt.timedelta(days=30)  # 20 days of notice and 10 of defence
_CHUNK = 500

ItemCheck = Callable[[str], str | None]
"""Returns why a violation item is refused (not in the active catalogue), or None."""


def _time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _pk(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


class ProjectionState:
    """Rows of one set of projection tables, cached for a batch and written back at once."""

    def __init__(self, conn: Connection, tables: Tables = LIVE) -> None:
        self.conn = conn
        self.tables = tables
        self.rows: dict[str, dict[Key, Row | None]] = defaultdict(dict)
        self.dirty: dict[str, set[Key]] = defaultdict(set)
        self.subject_entries: list[Row] = []

    # -- reading -------------------------------------------------------------------

    def load(self, name: str, keys: Iterable[Key]) -> None:
        """Fetch the rows for ``keys`` not already known, a chunk of keys per query."""
        known = self.rows[name]
        missing = sorted({key for key in keys if key not in known})
        if not missing:
            return
        table = self.tables[name]
        pk = _pk(table)
        columns = [table.c[c] for c in pk]
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            if len(pk) == 1:
                where = columns[0].in_([key[0] for key in chunk])
            else:
                where = tuple_(*columns).in_(chunk)
            for row in self.conn.execute(select(table).where(where)).mappings():
                known[tuple(row[c] for c in pk)] = dict(row)
            for key in chunk:
                known.setdefault(key, None)

    def get(self, name: str, key: Key) -> Row | None:
        if key not in self.rows[name]:
            self.load(name, [key])
        return self.rows[name][key]

    # -- writing -------------------------------------------------------------------

    def put(self, name: str, row: Row) -> None:
        table = self.tables[name]
        key = tuple(row[c] for c in _pk(table))
        self.rows[name][key] = row
        self.dirty[name].add(key)

    def flush(self) -> None:
        if self.subject_entries:
            self._upsert("proj_subject_entries", self.subject_entries)
            self.subject_entries = []
        for name, keys in self.dirty.items():
            rows = [self.rows[name][key] for key in sorted(keys)]
            self._upsert(name, [r for r in rows if r is not None])
        self.dirty.clear()

    def _upsert(self, name: str, rows: list[Row]) -> None:
        if not rows:
            return
        table = self.tables[name]
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        pk = _pk(table)
        others = [c.name for c in table.columns if c.name not in pk]
        if others:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(pk), set_={c: stmt.excluded[c] for c in others}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(pk))
        columns = [c.name for c in table.columns]
        self.conn.execute(stmt, [{c: row.get(c) for c in columns} for row in rows])


# --- what each kind references, to load a batch's rows up front --------------------


def prefetch(state: ProjectionState, records: Sequence[tuple[int, k.Record]]) -> None:
    enterprises: set[Key] = set()
    products: set[Key] = set()
    batches: set[Key] = set()
    entries: dict[str, set[Key]] = defaultdict(set)
    for _, record in records:
        for name in ("uscc", "owner_uscc", "declarant_uscc", "body_uscc"):
            value = getattr(record, name, None)
            if value:
                enterprises.add((value,))
        gtin = getattr(record, "gtin", None)
        if gtin:
            products.add((gtin,))
            if isinstance(record, k.RecallIssued):
                batches.update((gtin, b) for b in record.batches)
            batch = getattr(record, "batch", None)
            if batch:
                batches.add((gtin, batch))
        target = _REFERENCED.get(type(record))
        if target:
            entries[target[0]].add((getattr(record, target[1]),))
    state.load("proj_enterprises", enterprises)
    state.load("proj_products", products)
    state.load("proj_batches", batches)
    for name, keys in entries.items():
        state.load(name, keys)


_REFERENCED: dict[type, tuple[str, str]] = {
    k.ViolationRevoked: ("proj_violations", "entry"),
    k.ComplaintVerified: ("proj_complaints", "entry"),
    k.RecallClosed: ("proj_recalls", "entry"),
    k.RepairDecided: ("proj_repairs", "request"),
}


# --- rules --------------------------------------------------------------------------


def _enterprise(state: ProjectionState, uscc: str, field: str, *, active: bool = True) -> Row:
    row = state.get("proj_enterprises", (uscc,))
    if row is None:
        raise RecordError(f"enterprise {uscc} is not filed", field)
    if active and row["status"] == "revoked":
        raise RecordError(f"enterprise {uscc} is revoked (entry {row['revoked_entry']})", field)
    return row


def _product(state: ProjectionState, gtin: str, field: str = "gtin") -> Row:
    row = state.get("proj_products", (gtin,))
    if row is None:
        raise RecordError(f"product {gtin} is not filed", field)
    if row["status"] == "revoked":
        raise RecordError(f"product {gtin} is revoked (entry {row['revoked_entry']})", field)
    return row


def _batch(state: ProjectionState, gtin: str, batch: str, field: str = "batch") -> Row:
    row = state.get("proj_batches", (gtin, batch))
    if row is None or row["declared_entry"] is None:
        raise RecordError(f"batch {batch} of {gtin} is not declared", field)
    return row


def _referenced(
    state: ProjectionState, name: str, entry: int, what: str, field: str, **match: Any
) -> Row:
    row = state.get(name, (entry,))
    if row is None or any(row[c] != v for c, v in match.items()):
        owner = ", ".join(f"{c} {v}" for c, v in match.items())
        raise RecordError(f"entry {entry} is not a {what} of {owner}", field)
    return row


def check(
    state: ProjectionState, record: k.Record, time: str, item_check: ItemCheck | None
) -> None:
    """Raise RecordError if ``record`` breaks a rule given the current state."""
    if isinstance(record, k.EnterpriseFiled):
        row = state.get("proj_enterprises", (record.uscc,))
        if row is not None:
            raise RecordError(
                f"enterprise {record.uscc} is already filed (entry {row['filed_entry']}); "
                "record an enterprise.amended instead",
                "uscc",
            )
        return
    if isinstance(record, k.ProductFiled):
        if state.get("proj_products", (record.gtin,)) is not None:
            raise RecordError(f"product {record.gtin} is already filed", "gtin")
        _enterprise(state, record.owner_uscc, "owner_uscc")
        return
    if isinstance(record, k.ProductRevoked):
        _product(state, record.gtin)
        return
    if isinstance(record, k.BatchDeclared):
        _product(state, record.gtin)
        _enterprise(state, record.declarant_uscc, "declarant_uscc")
        existing = state.get("proj_batches", (record.gtin, record.batch))
        if existing is not None and existing["declared_entry"] is not None:
            raise RecordError(f"batch {record.batch} of {record.gtin} is already declared", "batch")
        return
    if isinstance(record, k.InspectionResult):
        _batch(state, record.gtin, record.batch)
        if record.body_uscc:
            _enterprise(state, record.body_uscc, "body_uscc")
        return
    if isinstance(record, k.CodesIssued):
        _batch(state, record.gtin, record.batch)
        return
    if isinstance(record, k.CodesRevoked):
        row = _batch(state, record.gtin, record.batch)
        if not row["codes"]:
            raise RecordError(f"no codes were issued for batch {record.batch}", "batch")
        return
    if isinstance(record, k.RecallIssued):
        _product(state, record.gtin)
        for batch in record.batches:
            _batch(state, record.gtin, batch, "batches")
        return
    if isinstance(record, k.RecallClosed):
        row = _referenced(state, "proj_recalls", record.entry, "recall", "entry", gtin=record.gtin)
        if row["closed_entry"] is not None:
            raise RecordError(
                f"recall {record.entry} was closed by entry {row['closed_entry']}", "entry"
            )
        return
    if isinstance(record, k.DrawMade | k.EntryRedacted):
        return
    # Everything else is about one enterprise, which must be filed and not revoked.
    uscc = getattr(record, "uscc")  # noqa: B009 - every remaining kind has one
    enterprise = _enterprise(state, uscc, "uscc")
    if isinstance(record, k.ViolationRecorded):
        why = item_check(record.item) if item_check else None
        if why:
            raise RecordError(why, "item")
    elif isinstance(record, k.ViolationRevoked):
        row = _referenced(state, "proj_violations", record.entry, "violation", "entry", uscc=uscc)
        if row["revoked_entry"] is not None:
            raise RecordError(
                f"violation {record.entry} was revoked by entry {row['revoked_entry']}", "entry"
            )
    elif isinstance(record, k.ComplaintReceived):
        if record.gtin:
            _product(state, record.gtin)
    elif isinstance(record, k.ComplaintVerified):
        row = _referenced(state, "proj_complaints", record.entry, "complaint", "entry", uscc=uscc)
        if row["verified_entry"] is not None:
            raise RecordError(
                f"complaint {record.entry} was verified by entry {row['verified_entry']}", "entry"
            )
    elif isinstance(record, k.BlacklistNoticed):
        if enterprise["blacklist"] != "none":
            raise RecordError(f"enterprise {uscc} is already {enterprise['blacklist']}", "uscc")
    elif isinstance(record, k.BlacklistListed):
        if enterprise["blacklist"] != "noticed":
            raise RecordError(f"enterprise {uscc} must be noticed before it is listed", "uscc")
        earliest = _time(enterprise["noticed_time"]) + BLACKLIST_WAIT
        if _time(time) < earliest:
            raise RecordError(
                "listing is allowed 30 days after the notice "
                f"(entry {enterprise['blacklist_entry']}), not before {earliest.date()}",
                "blacklist.listed",
            )
    elif isinstance(record, k.BlacklistRemoved):
        if enterprise["blacklist"] == "none":
            raise RecordError(f"enterprise {uscc} is not on the blacklist", "uscc")
    elif isinstance(record, k.RepairDecided):
        row = _referenced(
            state, "proj_repairs", record.request, "repair request", "request", uscc=uscc
        )
        if row["decided_entry"] is not None:
            raise RecordError(
                f"request {record.request} was decided by entry {row['decided_entry']}", "request"
            )


# --- apply: one function per kind ---------------------------------------------------


def _update(state: ProjectionState, name: str, key: Key, **changes: Any) -> None:
    row = state.get(name, key)
    if row is not None:  # its subject's earlier entry may have been redacted
        state.put(name, {**row, **changes})


def _batch_row(state: ProjectionState, gtin: str, batch: str) -> Row:
    return state.get("proj_batches", (gtin, batch)) or {
        "gtin": gtin,
        "batch": batch,
        "quantity": None,
        "produced_on": None,
        "expires_on": None,
        "port": None,
        "declaration_no": None,
        "declarant_uscc": None,
        "declared_entry": None,
        "outcome": None,
        "inspected_on": None,
        "inspection_entry": None,
        "codes": 0,
    }


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def apply(state: ProjectionState, index: int, time: str, record: k.Record, subject: str) -> None:
    """Change the state as ``record``, entry ``index`` recorded at ``time``, says."""
    state.subject_entries.append({"subject": subject, "idx": index, "kind": record.kind})
    r: Any = record
    if isinstance(record, k.EnterpriseFiled):
        state.put(
            "proj_enterprises",
            {
                "uscc": r.uscc,
                "name": r.name,
                "roles": json.dumps(r.roles),
                "address": r.address,
                "country": r.country,
                "filed_on": _date(r.filed_on),
                "status": "active",
                "filed_entry": index,
                "updated_entry": index,
                "revoked_entry": None,
                "blacklist": "none",
                "blacklist_entry": None,
                "noticed_time": None,
                "grade": None,
                "score": None,
                "graded_entry": None,
            },
        )
    elif isinstance(record, k.EnterpriseAmended):
        changes = {
            f: getattr(r, f) for f in ("name", "address", "country") if getattr(r, f) is not None
        }
        if r.roles is not None:
            changes["roles"] = json.dumps(r.roles)
        _update(state, "proj_enterprises", (r.uscc,), updated_entry=index, **changes)
    elif isinstance(record, k.EnterpriseRevoked):
        _update(
            state,
            "proj_enterprises",
            (r.uscc,),
            status="revoked",
            revoked_entry=index,
            updated_entry=index,
        )
    elif isinstance(record, k.ProductFiled):
        state.put(
            "proj_products",
            {
                "gtin": r.gtin,
                "name": r.name,
                "hs_code": r.hs_code,
                "origin_country": r.origin_country,
                "owner_uscc": r.owner_uscc,
                "risk_class": r.risk_class,
                "status": "active",
                "filed_entry": index,
                "revoked_entry": None,
            },
        )
    elif isinstance(record, k.ProductRevoked):
        _update(state, "proj_products", (r.gtin,), status="revoked", revoked_entry=index)
    elif isinstance(record, k.BatchDeclared):
        state.put(
            "proj_batches",
            {
                **_batch_row(state, r.gtin, r.batch),
                "quantity": r.quantity,
                "produced_on": _date(r.produced_on),
                "expires_on": _date(r.expires_on),
                "port": r.port,
                "declaration_no": r.declaration_no,
                "declarant_uscc": r.declarant_uscc,
                "declared_entry": index,
            },
        )
    elif isinstance(record, k.InspectionResult):
        state.put(
            "proj_inspections",
            {
                "entry": index,
                "gtin": r.gtin,
                "batch": r.batch,
                "outcome": r.outcome,
                "inspected_on": _date(r.inspected_on),
                "body_uscc": r.body_uscc,
                "accepted_third_party": r.accepted_third_party,
                "items": None if r.items is None else json.dumps(r.items, ensure_ascii=False),
            },
        )
        row = _batch_row(state, r.gtin, r.batch)
        # The batch shows its latest inspection by date: a backfilled older one does not win.
        inspected_on = _date(r.inspected_on)
        assert inspected_on is not None
        if row["inspected_on"] is None or inspected_on >= row["inspected_on"]:
            state.put(
                "proj_batches",
                {
                    **row,
                    "outcome": r.outcome,
                    "inspected_on": inspected_on,
                    "inspection_entry": index,
                },
            )
    elif isinstance(record, k.ViolationRecorded):
        state.put(
            "proj_violations",
            {
                "entry": index,
                "uscc": r.uscc,
                "item": r.item,
                "occurred_on": _date(r.occurred_on),
                "case_no": r.case_no,
                "fine_fen": r.fine_fen,
                "basis": r.basis,
                "note": r.note,
                "revoked_entry": None,
                "revoked_reason": None,
            },
        )
    elif isinstance(record, k.ViolationRevoked):
        _update(state, "proj_violations", (r.entry,), revoked_entry=index, revoked_reason=r.reason)
    elif isinstance(record, k.ComplaintReceived):
        state.put(
            "proj_complaints",
            {
                "entry": index,
                "uscc": r.uscc,
                "channel": r.channel,
                "gtin": r.gtin,
                "summary": r.summary,
                "verified_entry": None,
            },
        )
    elif isinstance(record, k.ComplaintVerified):
        _update(state, "proj_complaints", (r.entry,), verified_entry=index)
    elif isinstance(record, k.RecallIssued):
        state.put(
            "proj_recalls",
            {
                "entry": index,
                "gtin": r.gtin,
                "batches": json.dumps(r.batches),
                "reason": r.reason,
                "issued_on": _date(r.issued_on),
                "closed_entry": None,
            },
        )
    elif isinstance(record, k.RecallClosed):
        _update(state, "proj_recalls", (r.entry,), closed_entry=index)
    elif isinstance(record, k.SanctionYellowCard | k.SanctionInterview):
        state.put(
            "proj_sanctions",
            {
                "entry": index,
                "uscc": r.uscc,
                "kind": record.kind,
                "reason": r.reason,
                "on_date": _date(r.on),
            },
        )
    elif isinstance(record, k.BlacklistNoticed | k.BlacklistListed | k.BlacklistRemoved):
        event = record.kind.split(".")[1]
        state.put(
            "proj_blacklist_events",
            {
                "entry": index,
                "uscc": r.uscc,
                "event": event,
                "reason": r.reason,
                "basis": r.basis,
                "time": time,
            },
        )
        if event == "noticed":
            _update(
                state,
                "proj_enterprises",
                (r.uscc,),
                blacklist="noticed",
                blacklist_entry=index,
                noticed_time=time,
            )
        elif event == "listed":
            _update(state, "proj_enterprises", (r.uscc,), blacklist="listed", blacklist_entry=index)
        else:
            _update(
                state,
                "proj_enterprises",
                (r.uscc,),
                blacklist="none",
                blacklist_entry=index,
                noticed_time=None,
            )
    elif isinstance(record, k.RepairRequested):
        state.put(
            "proj_repairs",
            {
                "entry": index,
                "uscc": r.uscc,
                "grounds": r.grounds,
                "decided_entry": None,
                "approved": None,
                "note": None,
            },
        )
    elif isinstance(record, k.RepairDecided):
        _update(
            state,
            "proj_repairs",
            (r.request,),
            decided_entry=index,
            approved=r.approved,
            note=r.note,
        )
    elif isinstance(record, k.CreditGraded):
        state.put(
            "proj_grades",
            {
                "entry": index,
                "uscc": r.uscc,
                "grade": r.grade,
                "score": r.score,
                "policy": r.policy,
                "as_of_size": r.as_of_size,
                "reasons_digest": r.reasons_digest,
            },
        )
        _update(
            state, "proj_enterprises", (r.uscc,), grade=r.grade, score=r.score, graded_entry=index
        )
    elif isinstance(record, k.CodesIssued):
        state.put(
            "proj_code_batches",
            {
                "entry": index,
                "gtin": r.gtin,
                "batch": r.batch,
                "count": r.count,
                "serials_root": r.serials_root,
                "key_id": r.key_id,
            },
        )
        row = _batch_row(state, r.gtin, r.batch)
        state.put("proj_batches", {**row, "codes": (row["codes"] or 0) + r.count})
    elif isinstance(record, k.CodesRevoked):
        state.put(
            "proj_code_revocations",
            {
                "entry": index,
                "gtin": r.gtin,
                "batch": r.batch,
                "serials": json.dumps(r.serials),
                "reason": r.reason,
            },
        )
    elif isinstance(record, k.DrawMade):
        state.put(
            "proj_draws",
            {
                "entry": index,
                "draw_id": subject.removeprefix("draw:"),
                "population": r.population,
                "count": r.count,
                "seed_size": r.seed_size,
                "picks": json.dumps(r.picks),
            },
        )
    # entry.redacted changes no row of its own; the ledger rebuilds the target's subject.


def clear_subject(conn: Connection, tables: Tables, subject: str) -> None:
    """Delete every projection row that ``subject`` owns (before rebuilding it)."""
    family, values = subject_keys(subject)
    for name, (owner, columns) in OWNER.items():
        if owner != family:
            continue
        table = tables[name]
        conn.execute(
            delete(table).where(*(table.c[c] == v for c, v in zip(columns, values, strict=True)))
        )
