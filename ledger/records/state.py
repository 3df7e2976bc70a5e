"""Current state in memory: the projection rows one batch touches.

``ProjectionState`` holds the rows a batch touches (loaded in a few queries up
front), lets the handlers' rules read them and their apply functions change
them, and writes every changed row back in one upsert per table. The handlers
(``ledger.records.handlers``) say what each kind reads and writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

import msgspec
from sqlalchemy import Connection, Table, delete

from ledger.records.tables import LIVE, OWNER, Tables, subject_keys
from ledger.store.sql import marker

Row = dict[str, Any]


Payload = dict[str, Any]
"""A canonical payload as decoded JSON (optional fields may be absent: read them with get)."""


def decode_payload(payload: bytes) -> Payload:
    result: Payload = _decode(payload)
    return result


_decode = msgspec.json.Decoder(dict[str, Any]).decode
Key = tuple[Any, ...]
_CHUNK = 500


class AssumptionFailed(Exception):
    """A rule would refuse a record because of a row that was assumed absent."""


def _pk(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


@lru_cache(maxsize=256)
def _insert_sql(table: Table, sqlite: bool) -> str:
    """A plain INSERT, for the driver's executemany (the hot path)."""
    columns = [c.name for c in table.columns]
    marks = ", ".join([marker(sqlite)] * len(columns))
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
        missing = [key for key in set(keys) if key not in known]
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
        """Stage a new row of a table that is only ever written, never read back."""
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
        """The rows worth keeping for the next batch, the newest ``limit``.

        Only tables that are read back hold rows here (``insert`` stages the others).
        """
        kept = dict(self.rows)
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
