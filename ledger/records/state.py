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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

import msgspec
from sqlalchemy import Connection, Table, delete

from ledger.records.kinds import RecordError
from ledger.records.tables import LIVE, OWNER, Tables, subject_keys

Row = dict[str, Any]


Payload = dict[str, Any]
"""A canonical payload as decoded JSON (optional fields may be absent: read them with get)."""


def decode_payload(payload: bytes) -> Payload:
    result: Payload = _decode(payload)
    return result


_decode = msgspec.json.Decoder(dict[str, Any]).decode
Key = tuple[Any, ...]
BLACKLIST_WAIT = dt.timedelta(days=30)  # 20 days of notice and 10 of defence
_CHUNK = 500


class AssumptionFailed(Exception):
    """A rule would refuse a record because of a row that was assumed absent."""


ItemCheck = Callable[[str], str | None]
"""Returns why a violation item is refused (not in the active catalogue), or None."""


def _time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _pk(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


@lru_cache(maxsize=256)
def _insert_sql(table: Table, sqlite: bool) -> str:
    """A plain INSERT, for the driver's executemany (the hot path)."""
    columns = [c.name for c in table.columns]
    marks = ", ".join(["?" if sqlite else "%s"] * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


@lru_cache(maxsize=256)
def _upsert_sql(table: Table, sqlite: bool) -> str:
    """INSERT ... ON CONFLICT (pk) DO UPDATE, for rows that may be stored already."""
    pk = _pk(table)
    others = [c.name for c in table.columns if c.name not in pk]
    action = (
        "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)
        if others
        else "DO NOTHING"
    )
    return f"{_insert_sql(table, sqlite)} ON CONFLICT ({', '.join(pk)}) {action}"


@dataclass(frozen=True)
class _Shape:
    """What the hot paths need to know of a table, worked out once."""

    name: str
    columns: tuple[str, ...]
    pk: tuple[str, ...]
    key_of: Callable[[Row], Key]
    values_of: Callable[[Row], tuple[Any, ...]]


@lru_cache(maxsize=256)
def _shape(table: Table) -> _Shape:
    columns = tuple(c.name for c in table.columns)
    pk = _pk(table)
    key_getter = itemgetter(*pk)
    values_getter = itemgetter(*columns)

    def key_of(row: Row) -> Key:
        key = key_getter(row)
        return key if len(pk) > 1 else (key,)

    return _Shape(table.name, columns, pk, key_of, values_getter)


# Tables the rules and apply functions read back; the others are only ever written.
READ_TABLES = frozenset(
    {
        "proj_enterprises",
        "proj_products",
        "proj_batches",
        "proj_violations",
        "proj_complaints",
        "proj_recalls",
        "proj_repairs",
    }
)


def _load_queries(shape: _Shape, keys: list[Key], sqlite: bool) -> Iterator[tuple[str, list[Any]]]:
    """SELECTs that fetch the rows with these primary keys."""
    columns = ", ".join(shape.columns)
    if not sqlite:
        # One query with an array per key column: the plan does not depend on how many.
        arrays = [list(column) for column in zip(*keys, strict=True)]
        casts = ["%s::bigint[]" if isinstance(a[0], int) else "%s::text[]" for a in arrays]
        if len(shape.pk) == 1:
            where = f"{shape.pk[0]} = ANY({casts[0]})"
        else:
            where = f"({', '.join(shape.pk)}) IN (SELECT * FROM unnest({', '.join(casts)}))"
        yield f"SELECT {columns} FROM {shape.name} WHERE {where}", arrays
        return
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        if len(shape.pk) == 1:
            where = f"{shape.pk[0]} IN ({', '.join(['?'] * len(chunk))})"
            params: list[Any] = [key[0] for key in chunk]
        else:
            one = "(" + " AND ".join(f"{c} = ?" for c in shape.pk) + ")"
            where = " OR ".join([one] * len(chunk))
            params = [value for key in chunk for value in key]
        yield f"SELECT {columns} FROM {shape.name} WHERE {where}", params


class ProjectionState:
    """Rows of one set of projection tables, cached for a batch and written back at once."""

    def __init__(self, conn: Connection, tables: Tables = LIVE) -> None:
        self.conn = conn
        self.tables = tables
        self.sqlite = conn.dialect.name == "sqlite"
        self.rows: dict[str, dict[Key, Row | None]] = defaultdict(dict)
        self.dirty: dict[str, set[Key]] = defaultdict(set)
        self.created: dict[str, set[Key]] = defaultdict(set)
        self.inserts: dict[str, list[Row]] = defaultdict(list)
        self.assumed: dict[str, set[Key]] = defaultdict(set)
        self.subject_entries: list[Row] = []
        self._key_of = {name: _shape(tables[name]).key_of for name in tables.names()}

    def _cursor(self) -> Any:
        return self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    # -- reading -------------------------------------------------------------------

    def load(self, name: str, keys: Iterable[Key]) -> None:
        """Fetch the rows for ``keys`` not already known, a chunk of keys per query."""
        known = self.rows[name]
        missing = sorted({key for key in keys if key not in known})
        if not missing:
            return
        shape = _shape(self.tables[name])
        cursor = self._cursor()
        try:
            for sql, params in _load_queries(shape, missing, self.sqlite):
                cursor.execute(sql, params)
                for values in cursor.fetchall():
                    row = dict(zip(shape.columns, values, strict=True))
                    known[shape.key_of(row)] = row
        finally:
            cursor.close()
        for key in missing:
            known.setdefault(key, None)

    def assume_absent(self, name: str, keys: Iterable[Key]) -> None:
        """Take rows not already known to be absent, without looking: nothing may be
        refused for their absence (AssumptionFailed), and inserting one that exists
        fails on the primary key."""
        known, assumed = self.rows[name], self.assumed[name]
        for key in keys:
            if key not in known:
                known[key] = None
                assumed.add(key)

    def get(self, name: str, key: Key) -> Row | None:
        rows = self.rows[name]
        try:
            return rows[key]
        except KeyError:
            self.load(name, [key])
            return rows[key]

    # -- writing -------------------------------------------------------------------

    def put(self, name: str, row: Row, key: Key | None = None) -> None:
        """Stage ``row`` (new, or changed in place) to be written by ``flush``."""
        if key is None:
            key = self._key_of[name](row)
        rows = self.rows[name]
        dirty = self.dirty[name]
        if key not in dirty:
            dirty.add(key)
            # Not a stored row (known to be absent, or keyed by a new entry): insert it.
            if rows.get(key) is None:
                self.created[name].add(key)
        rows[key] = row

    def insert(self, name: str, row: Row) -> None:
        """Stage a new row of a table that is only ever written (not in READ_TABLES)."""
        self.inserts[name].append(row)

    def flush(self) -> None:
        if self.subject_entries:
            self._write("proj_subject_entries", self.subject_entries, [])
            self.subject_entries = []
        for name, inserted in self.inserts.items():
            self._write(name, inserted, [])
        self.inserts.clear()
        for name, keys in self.dirty.items():
            rows, created = self.rows[name], self.created[name]
            new: list[Row] = []
            changed: list[Row] = []
            for key in sorted(keys):
                row = rows[key]
                if row is not None:
                    (new if key in created else changed).append(row)
            self._write(name, new, changed)
        self.dirty.clear()
        self.created.clear()

    def _write(self, name: str, new: list[Row], changed: list[Row]) -> None:
        table = self.tables[name]
        shape = _shape(table)
        cursor = self._cursor()
        try:
            if changed:
                cursor.executemany(
                    _upsert_sql(table, self.sqlite), list(map(shape.values_of, changed))
                )
            if new and self.sqlite:
                cursor.executemany(_insert_sql(table, True), list(map(shape.values_of, new)))
            elif new:
                with cursor.copy(
                    f"COPY {shape.name} ({', '.join(shape.columns)}) FROM STDIN"
                ) as copy:
                    for row in new:
                        copy.write_row(shape.values_of(row))
        finally:
            cursor.close()

    def kept(self, limit: int) -> dict[str, dict[Key, Row | None]]:
        """The rows worth keeping for the next batch: those read back, the newest ``limit``."""
        kept = {name: rows for name, rows in self.rows.items() if name in READ_TABLES}
        for name, keys in self.assumed.items():
            rows = kept[name]
            for key in keys:
                if rows.get(key, True) is None:  # assumed absent, never confirmed
                    del rows[key]
        excess = sum(len(rows) for rows in kept.values()) - limit
        for rows in sorted(kept.values(), key=len, reverse=True):
            if excess <= 0:
                break
            # Dicts keep insertion order: the oldest rows go first.
            drop = min(excess, len(rows))
            for key in list(islice(rows, drop)):
                del rows[key]
            excess -= drop
        return kept


# --- what each kind references, to load a batch's rows up front --------------------


def prefetch(
    state: ProjectionState,
    records: Sequence[tuple[str, Payload]],
    *,
    assume_new_batches: bool = False,
) -> None:
    """Load the rows these records' rules and changes need, a few queries per table.

    With ``assume_new_batches`` the batches being declared are taken to be absent
    unless known (the caller must then let the primary key catch one that is not).
    """
    enterprises: set[Key] = set()
    products: set[Key] = set()
    batches: set[Key] = set()
    declared: set[Key] = set()
    entries: dict[str, set[Key]] = defaultdict(set)
    for kind, record in records:
        # The two kinds that make up most of a bulk import first, by hand.
        if kind == "inspection.result":
            batches.add((record["gtin"], record["batch"]))
            if body := record.get("body_uscc"):
                enterprises.add((body,))
            continue
        if kind == "batch.declared":
            products.add((record["gtin"],))
            enterprises.add((record["declarant_uscc"],))
            declared.add((record["gtin"], record["batch"]))
            continue
        for name in ("uscc", "owner_uscc", "declarant_uscc", "body_uscc"):
            value = record.get(name)
            if value:
                enterprises.add((value,))
        gtin = record.get("gtin")
        if gtin:
            products.add((gtin,))
            if kind == "recall.issued":
                batches.update((gtin, b) for b in record["batches"])
            batch = record.get("batch")
            if batch:
                batches.add((gtin, batch))
        target = _REFERENCED.get(kind)
        if target:
            entries[target[0]].add((record[target[1]],))
    state.load("proj_enterprises", enterprises)
    state.load("proj_products", products)
    if assume_new_batches:
        # Declared here, so also not looked up for the inspections that follow them.
        state.load("proj_batches", batches - declared)
        state.assume_absent("proj_batches", declared)
    else:
        state.load("proj_batches", batches | declared)
    for name, keys in entries.items():
        state.load(name, keys)


_REFERENCED: dict[str, tuple[str, str]] = {
    "violation.revoked": ("proj_violations", "entry"),
    "complaint.verified": ("proj_complaints", "entry"),
    "recall.closed": ("proj_recalls", "entry"),
    "credit.repair_decided": ("proj_repairs", "request"),
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
        if row is None and (gtin, batch) in state.assumed["proj_batches"]:
            raise AssumptionFailed(f"batch {batch} of {gtin} was assumed new, not looked up")
        raise RecordError(f"batch {batch} of {gtin} is not declared", field)
    return row


# Records that follow up an earlier entry of the same subject, once:
# kind -> (table, field naming the entry, what it is, column set by the follow-up, owner field)
FOLLOW_UPS: dict[str, tuple[str, str, str, str, str]] = {
    "violation.revoked": ("proj_violations", "entry", "violation", "revoked_entry", "uscc"),
    "complaint.verified": ("proj_complaints", "entry", "complaint", "verified_entry", "uscc"),
    "recall.closed": ("proj_recalls", "entry", "recall", "closed_entry", "gtin"),
    "credit.repair_decided": ("proj_repairs", "request", "repair request", "decided_entry", "uscc"),
}


def _follow_up(state: ProjectionState, kind: str, record: Payload) -> None:
    table, field, what, done, owner = FOLLOW_UPS[kind]
    entry = record[field]
    row = _referenced(state, table, entry, what, field, **{owner: record[owner]})
    if row[done] is not None:
        raise RecordError(f"{what} {entry} was already followed up by entry {row[done]}", field)


def _referenced(
    state: ProjectionState, name: str, entry: int, what: str, field: str, **match: Any
) -> Row:
    row = state.get(name, (entry,))
    if row is None or any(row[c] != v for c, v in match.items()):
        owner = ", ".join(f"{c} {v}" for c, v in match.items())
        raise RecordError(f"entry {entry} is not a {what} of {owner}", field)
    return row


def check(
    state: ProjectionState, kind: str, record: Payload, time: str, item_check: ItemCheck | None
) -> None:
    """Raise RecordError if ``record`` breaks a rule given the current state."""
    if kind == "inspection.result":
        _batch(state, record["gtin"], record["batch"])
        if record.get("body_uscc"):
            _enterprise(state, record["body_uscc"], "body_uscc")
        return
    if kind == "batch.declared":
        _product(state, record["gtin"])
        _enterprise(state, record["declarant_uscc"], "declarant_uscc")
        existing = state.get("proj_batches", (record["gtin"], record["batch"]))
        if existing is not None and existing["declared_entry"] is not None:
            raise RecordError(
                f"batch {record.get('batch')} of {record.get('gtin')} is already declared", "batch"
            )
        return
    if kind == "enterprise.filed":
        row = state.get("proj_enterprises", (record["uscc"],))
        if row is not None:
            raise RecordError(
                f"enterprise {record.get('uscc')} is already filed (entry {row['filed_entry']}); "
                "record an enterprise.amended instead",
                "uscc",
            )
        return
    if kind == "product.filed":
        if state.get("proj_products", (record["gtin"],)) is not None:
            raise RecordError(f"product {record.get('gtin')} is already filed", "gtin")
        _enterprise(state, record["owner_uscc"], "owner_uscc")
        return
    if kind == "product.revoked":
        _product(state, record["gtin"])
        return
    if kind == "codes.issued":
        _batch(state, record["gtin"], record["batch"])
        return
    if kind == "codes.revoked":
        row = _batch(state, record["gtin"], record["batch"])
        if not row["codes"]:
            raise RecordError(f"no codes were issued for batch {record.get('batch')}", "batch")
        return
    if kind == "recall.issued":
        _product(state, record["gtin"])
        for batch in record["batches"]:
            _batch(state, record["gtin"], batch, "batches")
        return
    if kind in FOLLOW_UPS:
        _follow_up(state, kind, record)
    if kind in ("recall.closed", "draw.made", "entry.redacted"):
        return
    # Everything else is about one enterprise, which must be filed and not revoked.
    uscc = record["uscc"]  # every remaining kind has one
    enterprise = _enterprise(state, uscc, "uscc")
    if kind == "violation.recorded":
        why = item_check(record["item"]) if item_check else None
        if why:
            raise RecordError(why, "item")
    elif kind == "complaint.received":
        if record.get("gtin"):
            _product(state, record["gtin"])
    elif kind == "blacklist.noticed":
        if enterprise["blacklist"] != "none":
            raise RecordError(f"enterprise {uscc} is already {enterprise['blacklist']}", "uscc")
    elif kind == "blacklist.listed":
        if enterprise["blacklist"] != "noticed":
            raise RecordError(f"enterprise {uscc} must be noticed before it is listed", "uscc")
        earliest = _time(enterprise["noticed_time"]) + BLACKLIST_WAIT
        if _time(time) < earliest:
            raise RecordError(
                "listing is allowed 30 days after the notice "
                f"(entry {enterprise['blacklist_entry']}), not before {earliest.date()}",
                "blacklist.listed",
            )
    elif kind == "blacklist.removed" and enterprise["blacklist"] == "none":
        raise RecordError(f"enterprise {uscc} is not on the blacklist", "uscc")


# --- apply: one function per kind ---------------------------------------------------


# Kinds whose entry creates a row that names it (projections.ENTRY_COLUMN); the entries
# of every other kind are listed in proj_subject_entries.
ROW_KINDS = frozenset(
    {
        "enterprise.filed",
        "product.filed",
        "batch.declared",
        "inspection.result",
        "violation.recorded",
        "complaint.received",
        "recall.issued",
        "sanction.yellow_card",
        "sanction.interview",
        "blacklist.noticed",
        "blacklist.listed",
        "blacklist.removed",
        "credit.repair_requested",
        "credit.graded",
        "codes.issued",
        "codes.revoked",
        "draw.made",
    }
)


def _update(state: ProjectionState, table: str, key: Key, /, **changes: Any) -> None:
    row = state.get(table, key)
    if row is not None:  # its subject's earlier entry may have been redacted
        row.update(changes)
        state.put(table, row, key)


def _batch_row(state: ProjectionState, key: Key) -> Row:
    """The batch's row, or a new empty one (not yet staged)."""
    return state.get("proj_batches", key) or {
        "gtin": key[0],
        "batch": key[1],
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


def apply(  # noqa: PLR0917 - the entry's coordinates, in envelope order
    state: ProjectionState, index: int, time: str, kind: str, record: Payload, subject: str
) -> None:
    """Change the state as ``record`` (a ``kind``, entry ``index`` recorded at ``time``) says."""
    if kind not in ROW_KINDS:
        state.subject_entries.append({"subject": subject, "idx": index, "kind": kind})
    r = record
    # The two kinds that make up most of a bulk import first, changing rows in place.
    if kind == "inspection.result":
        gtin, batch, outcome, inspected_on = r["gtin"], r["batch"], r["outcome"], r["inspected_on"]
        items = r.get("items")
        state.insert(
            "proj_inspections",
            {
                "entry": index,
                "gtin": gtin,
                "batch": batch,
                "outcome": outcome,
                "inspected_on": inspected_on,
                "body_uscc": r.get("body_uscc"),
                "accepted_third_party": r["accepted_third_party"],
                "items": None if items is None else json.dumps(items, ensure_ascii=False),
            },
        )
        key = (gtin, batch)
        row = _batch_row(state, key)
        # The batch shows its latest inspection by date: a backfilled older one does not win.
        if row["inspected_on"] is None or inspected_on >= row["inspected_on"]:
            row["outcome"] = outcome
            row["inspected_on"] = inspected_on
            row["inspection_entry"] = index
            state.put("proj_batches", row, key)
    elif kind == "batch.declared":
        key = (r["gtin"], r["batch"])
        row = _batch_row(state, key)
        row["quantity"] = r["quantity"]
        row["produced_on"] = r["produced_on"]
        row["expires_on"] = r.get("expires_on")
        row["port"] = r["port"]
        row["declaration_no"] = r["declaration_no"]
        row["declarant_uscc"] = r["declarant_uscc"]
        row["declared_entry"] = index
        state.put("proj_batches", row, key)
    elif kind == "enterprise.filed":
        state.put(
            "proj_enterprises",
            {
                "uscc": r["uscc"],
                "name": r.get("name"),
                "roles": json.dumps(r.get("roles")),
                "address": r.get("address"),
                "country": r.get("country"),
                "filed_on": r["filed_on"],
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
    elif kind == "enterprise.amended":
        changes = {f: r[f] for f in ("name", "address", "country") if r.get(f) is not None}
        if r.get("roles") is not None:
            changes["roles"] = json.dumps(r.get("roles"))
        _update(state, "proj_enterprises", (r["uscc"],), updated_entry=index, **changes)
    elif kind == "enterprise.revoked":
        _update(
            state,
            "proj_enterprises",
            (r["uscc"],),
            status="revoked",
            revoked_entry=index,
            updated_entry=index,
        )
    elif kind == "product.filed":
        state.put(
            "proj_products",
            {
                "gtin": r["gtin"],
                "name": r.get("name"),
                "hs_code": r["hs_code"],
                "origin_country": r["origin_country"],
                "owner_uscc": r["owner_uscc"],
                "risk_class": r["risk_class"],
                "status": "active",
                "filed_entry": index,
                "revoked_entry": None,
            },
        )
    elif kind == "product.revoked":
        _update(state, "proj_products", (r["gtin"],), status="revoked", revoked_entry=index)
    elif kind == "violation.recorded":
        state.put(
            "proj_violations",
            {
                "entry": index,
                "uscc": r["uscc"],
                "item": r["item"],
                "occurred_on": r["occurred_on"],
                "case_no": r["case_no"],
                "fine_fen": r.get("fine_fen"),
                "basis": r.get("basis"),
                "note": r.get("note"),
                "revoked_entry": None,
                "revoked_reason": None,
            },
        )
    elif kind == "violation.revoked":
        _update(
            state,
            "proj_violations",
            (r["entry"],),
            revoked_entry=index,
            revoked_reason=r["reason"],
        )
    elif kind == "complaint.received":
        state.put(
            "proj_complaints",
            {
                "entry": index,
                "uscc": r["uscc"],
                "channel": r["channel"],
                "gtin": r.get("gtin"),
                "summary": r["summary"],
                "verified_entry": None,
            },
        )
    elif kind == "complaint.verified":
        _update(state, "proj_complaints", (r["entry"],), verified_entry=index)
    elif kind == "recall.issued":
        state.put(
            "proj_recalls",
            {
                "entry": index,
                "gtin": r["gtin"],
                "batches": json.dumps(r["batches"]),
                "reason": r["reason"],
                "issued_on": r["issued_on"],
                "closed_entry": None,
            },
        )
    elif kind == "recall.closed":
        _update(state, "proj_recalls", (r["entry"],), closed_entry=index)
    elif kind in ("sanction.yellow_card", "sanction.interview"):
        state.insert(
            "proj_sanctions",
            {
                "entry": index,
                "uscc": r["uscc"],
                "kind": kind,
                "reason": r["reason"],
                "on_date": r["on"],
            },
        )
    elif kind in ("blacklist.noticed", "blacklist.listed", "blacklist.removed"):
        event = kind.split(".")[1]
        state.insert(
            "proj_blacklist_events",
            {
                "entry": index,
                "uscc": r["uscc"],
                "event": event,
                "reason": r["reason"],
                "basis": r.get("basis"),
                "time": time,
            },
        )
        if event == "noticed":
            _update(
                state,
                "proj_enterprises",
                (r["uscc"],),
                blacklist="noticed",
                blacklist_entry=index,
                noticed_time=time,
            )
        elif event == "listed":
            _update(
                state,
                "proj_enterprises",
                (r["uscc"],),
                blacklist="listed",
                blacklist_entry=index,
            )
        else:
            _update(
                state,
                "proj_enterprises",
                (r["uscc"],),
                blacklist="none",
                blacklist_entry=index,
                noticed_time=None,
            )
    elif kind == "credit.repair_requested":
        state.put(
            "proj_repairs",
            {
                "entry": index,
                "uscc": r["uscc"],
                "grounds": r["grounds"],
                "decided_entry": None,
                "approved": None,
                "note": None,
            },
        )
    elif kind == "credit.repair_decided":
        _update(
            state,
            "proj_repairs",
            (r["request"],),
            decided_entry=index,
            approved=r["approved"],
            note=r.get("note"),
        )
    elif kind == "credit.graded":
        state.insert(
            "proj_grades",
            {
                "entry": index,
                "uscc": r["uscc"],
                "grade": r["grade"],
                "score": r["score"],
                "policy": r["policy"],
                "as_of_size": r["as_of_size"],
                "reasons_digest": r["reasons_digest"],
            },
        )
        _update(
            state,
            "proj_enterprises",
            (r["uscc"],),
            grade=r["grade"],
            score=r["score"],
            graded_entry=index,
        )
    elif kind == "codes.issued":
        state.insert(
            "proj_code_batches",
            {
                "entry": index,
                "gtin": r["gtin"],
                "batch": r["batch"],
                "count": r["count"],
                "serials_root": r["serials_root"],
                "key_id": r["key_id"],
            },
        )
        key = (r["gtin"], r["batch"])
        row = _batch_row(state, key)
        row["codes"] = (row["codes"] or 0) + r["count"]
        state.put("proj_batches", row, key)
    elif kind == "codes.revoked":
        state.insert(
            "proj_code_revocations",
            {
                "entry": index,
                "gtin": r["gtin"],
                "batch": r["batch"],
                "serials": json.dumps(r["serials"]),
                "reason": r["reason"],
            },
        )
    elif kind == "draw.made":
        state.insert(
            "proj_draws",
            {
                "entry": index,
                "draw_id": subject.removeprefix("draw:"),
                "population": r["population"],
                "count": r["count"],
                "seed_size": r["seed_size"],
                "picks": json.dumps(r["picks"]),
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
