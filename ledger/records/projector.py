"""Keeps the projections in step with the log, and rebuilds them from it.

``Projector`` is the ledger's batch hook: it checks each record against the
current state, stages its changes, and writes them in the append transaction.
``replay`` rebuilds every projection from the ledger into fresh tables and
compares them with the live ones; ``project_stored`` projects entries stored without the
sequencer (a restore) the same way, into the live tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, func, insert, select

from ledger.errors import EntryRejected, LedgerCorruptError, RetryBatch
from ledger.records.handler import ItemCheck, Rule
from ledger.records.handlers import apply, check, handler_of, prefetch
from ledger.records.kinds import RecordError, parse_record
from ledger.records.state import (
    AssumptionFailed,
    Payload,
    ProjectionState,
    clear_subject,
    decode_payload,
)
from ledger.records.tables import ENTRY_COLUMN, LIVE, OWNER, Tables, fresh_tables, subject_keys
from ledger.store import statements
from ledger.store.engine import driver_connection, write_transaction
from ledger.store.entries import NewEntry
from ledger.store.sql import for_dialect
from ledger.tlog.envelope import match_envelope

REPLAY_PREFIX = "replay_"
CACHE_ROWS = 50_000  # projection rows kept between batches of one sequencer
REPLAY_CHUNK = 20_000


Applied = tuple[str, str, Payload]
"""An entry of the batch in progress as the projector applied it: kind, time, payload."""


class Projector:
    """The ledger batch hook for record rules and projections."""

    def __init__(
        self,
        item_check: ItemCheck | None = None,
        tables: Tables = LIVE,
        rules: Mapping[str, Sequence[Rule]] | None = None,
    ) -> None:
        self.item_check = item_check
        self.tables = tables
        # Rules of a higher layer for some kinds (credit repair timing, say), wired in by
        # the application; they run after the kind's own checks, before its effects.
        self.rules = dict(rules or {})
        self._state: ProjectionState | None = None
        self._cache: dict[str, dict[Any, Any]] | None = None
        self._optimistic = False

    def begin(self, conn: Connection, entries: Sequence[NewEntry], continuing: bool) -> None:
        self._state = ProjectionState(conn, self.tables)
        # Following its own batch, this sequencer assumes a newly filed or declared row
        # is not stored yet rather than looking (nearly all are new); the primary key
        # refuses one that is, and the ledger then runs the batch again with every lookup.
        cache, self._cache = self._cache, None
        self._optimistic = continuing and cache is not None
        if self._optimistic and cache is not None:
            # Rows read or written by earlier batches are still exact: no other writer came.
            self._state.rows.update(cache)
        self._payloads: dict[int, Payload | RecordError] = {}
        # What the batch applied, by index, for a rebuild before its entries are stored.
        self._applied: dict[int, Applied] = {}
        self._redacting: list[int] = []
        records = []
        for entry in entries:
            payload = self._decode(entry)
            if not isinstance(payload, RecordError):
                records.append((entry.kind, payload))
        prefetch(self._state, records, assume_new=self._optimistic)

    def _decode(self, entry: NewEntry) -> Payload | RecordError:
        """The entry's payload, validated here unless the caller did (or why it is refused)."""
        payload: Payload | RecordError
        if not entry.validated:
            try:
                parse_record(entry.kind, entry.payload)
            except RecordError as exc:
                self._payloads[id(entry)] = exc
                return exc
        payload = self._payloads[id(entry)] = decode_payload(entry.payload)
        return payload

    def check(self, entry: NewEntry, index: int, time: str) -> None:
        assert self._state is not None
        # An entry another hook added after the batch began is decoded when it comes.
        payload = self._payloads.get(id(entry)) or self._decode(entry)
        if isinstance(payload, RecordError):
            raise EntryRejected(str(payload), field=payload.field)
        try:
            check(self._state, entry.kind, payload, time, self.item_check)
            for rule in self.rules.get(entry.kind, ()):
                rule(self._state, payload, time, self.item_check)
        except RecordError as exc:
            raise EntryRejected(str(exc), field=exc.field) from exc
        except AssumptionFailed as exc:
            raise RetryBatch(str(exc)) from exc
        except self._state.conn.dialect.loaded_dbapi.IntegrityError as exc:
            # A rule that reads the batch's effects writes them first (see Projector.more).
            if self._optimistic:
                raise RetryBatch("a batch assumed new is already stored") from exc
            raise
        apply(self._state, index, time, entry.kind, payload, entry.subject)
        self._applied[index] = (entry.kind, time, payload)
        if entry.redacts is not None:
            self._redacting.append(entry.redacts)

    def payload_of(self, entry: NewEntry) -> Payload:
        """The decoded payload of an entry of the batch in progress that was accepted."""
        payload = self._payloads[id(entry)]
        assert not isinstance(payload, RecordError), "the entry was refused"
        return payload

    @property
    def state(self) -> ProjectionState:
        """The rows of the batch in progress (for a hook that follows this one)."""
        assert self._state is not None, "no batch in progress"
        return self._state

    def _flush(self, conn: Connection) -> None:
        assert self._state is not None
        try:
            self._state.flush()
        except conn.dialect.loaded_dbapi.IntegrityError as exc:
            if self._optimistic:
                raise RetryBatch("a batch assumed new is already stored") from exc
            raise

    def more(self, conn: Connection, size: int, time: str) -> Sequence[NewEntry]:
        """Adds nothing, but writes what the batch staged so far, so that a hook after
        this one reads the batch's effects with plain queries: a redaction's too, whose
        subject is rebuilt here without the payloads it removes (the regrader reads the
        facts as they are after it), and again once they are gone (``finish``)."""
        self._flush(conn)
        if self._redacting:
            skip = set(self._redacting)
            for target in self._redacting:
                rebuild_subject_of(conn, self.tables, target, skip=skip, pending=self._applied)
            # The rows cached before the rebuild are stale: read them again when needed.
            self._state = ProjectionState(conn, self.tables)
        return ()

    def finish(self, conn: Connection, redacted: Sequence[int]) -> None:
        assert self._state is not None
        self._flush(conn)
        state, self._state = self._state, None
        for target in redacted:
            rebuild_subject_of(conn, self.tables, target)
        # Kept for the next batch unless a rebuild changed rows behind it.
        self._cache = None if redacted else state.kept(CACHE_ROWS)


def subject_entries(conn: Connection, subject: str, tables: Tables = LIVE) -> list[int]:
    """The entries of ``subject`` in log order: every one not redacted, perhaps some that are."""
    family, values = subject_keys(subject)
    found: set[int] = set()
    for name, (owner, columns) in OWNER.items():
        if owner != family:
            continue
        table = tables[name]
        column = table.c[ENTRY_COLUMN[name]]
        where = [table.c[c] == v for c, v in zip(columns, values, strict=True)]
        found.update(i for (i,) in conn.execute(select(column).where(*where)) if i is not None)
    listed = tables["proj_subject_entries"]
    found.update(
        i for (i,) in conn.execute(select(listed.c.idx).where(listed.c.subject == subject))
    )
    return sorted(found)


def _stored(conn: Connection, index: int) -> tuple[bytes, bytes | None]:
    stored = statements.leaf_input_and_payload(conn, index)
    if stored is None:
        raise LedgerCorruptError(f"entry {index} is listed in the projections but not stored")
    return stored


def rebuild_subject_of(
    conn: Connection,
    tables: Tables,
    target: int,
    *,
    skip: Collection[int] = (),
    pending: Mapping[int, Applied] | None = None,
) -> None:
    """After a redaction: rebuild the rows of the redacted entry's subject from the log.

    Before the batch that redacts is written, ``skip`` names the payloads it removes and
    ``pending`` holds its own entries, which are not stored yet."""
    leaf_input, _ = _stored(conn, target)
    envelope = match_envelope(leaf_input)
    assert envelope is not None
    subject = json.loads(envelope["subject"])
    entries = subject_entries(conn, subject, tables)
    clear_subject(conn, tables, subject)
    state = ProjectionState(conn, tables)
    for index in entries:
        if index in skip:
            continue
        if pending is not None and index in pending:
            kind, time, record = pending[index]
            apply(state, index, time, kind, record, subject)
            continue
        leaf, payload = _stored(conn, index)
        if payload is None:
            continue
        m = match_envelope(leaf)
        assert m is not None
        kind = m["kind"].decode()
        apply(state, index, m["time"].decode(), kind, decode_payload(payload), subject)
    state.subject_entries = []  # already indexed
    state.flush()


@dataclass
class ReplayReport:
    entries: int = 0
    redacted: int = 0
    differences: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def equal(self) -> bool:
        return not self.differences

    def as_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "redacted": self.redacted,
            "equal": self.equal,
            "differences": self.differences,
            "examples": self.examples,
            "applied": self.applied,
        }


def _project(conn: Connection, tables: Tables, rows: Sequence[tuple[Any, Any, Any]]) -> int:
    """Apply stored entries ``(index, leaf input, payload)``, in log order, to ``tables``,
    as each was applied when appended (redactions already done); returns how many were
    redacted."""
    state = ProjectionState(conn, tables)
    parsed = []
    redacted = 0
    for idx, leaf_input, payload in rows:
        m = match_envelope(bytes(leaf_input))
        assert m is not None
        kind, subject, time = m["kind"].decode(), json.loads(m["subject"]), m["time"].decode()
        if payload is None:
            redacted += 1
            if not handler_of(kind).owns_row:  # as when it was applied (apply lists it)
                state.subject_entries.append({"subject": subject, "idx": idx, "kind": kind})
            continue
        parsed.append((int(idx), time, subject, kind, decode_payload(bytes(payload))))
    prefetch(state, [(kind, record) for _, _, _, kind, record in parsed])
    for idx, time, subject, kind, record in parsed:
        apply(state, idx, time, kind, record, subject)
    state.flush()
    return redacted


def live_rows(conn: Connection) -> dict[str, int]:
    """The projection tables that hold rows, with their counts (empty for a new log)."""
    counts = {
        name: conn.execute(select(func.count()).select_from(LIVE[name])).scalar_one()
        for name in LIVE.names()
    }
    return {name: count for name, count in counts.items() if count}


def project_stored(
    conn: Connection, entries: Sequence[tuple[int, bytes, bytes | None, bytes | None]]
) -> None:
    """Project entries ``(index, leaf input, salt, payload)`` that were stored without the
    sequencer, into the live tables, in the caller's transaction: a restore
    (``ledger.store.export.import_log``'s ``on_entries``) leaves the state replay would."""
    for start in range(0, len(entries), REPLAY_CHUNK):
        chunk = entries[start : start + REPLAY_CHUNK]
        _project(conn, LIVE, [(idx, leaf, payload) for idx, leaf, _, payload in chunk])


def _replay_into(
    conn: Connection, tables: Tables, size: int, progress: Callable[[int], object] | None
) -> ReplayReport:
    report = ReplayReport()
    raw = driver_connection(conn)
    sql = for_dialect(conn.dialect.name, statements.ENVELOPE_PAYLOAD_RANGE)
    for start in range(0, size, REPLAY_CHUNK):
        cursor = raw.cursor()
        cursor.execute(sql, (start, min(size, start + REPLAY_CHUNK)))
        rows = cursor.fetchall()
        cursor.close()
        report.redacted += _project(conn, tables, rows)
        report.entries += len(rows)
        if progress:
            progress(len(rows))
    return report


def _compare(conn: Connection, live: Tables, rebuilt: Tables, report: ReplayReport) -> None:
    for name in live.names():
        a, b = live[name], rebuilt[name]
        order = [c.name for c in a.primary_key.columns]
        left = conn.execute(select(a).order_by(*(a.c[c] for c in order))).all()
        right = conn.execute(select(b).order_by(*(b.c[c] for c in order))).all()
        if [tuple(r) for r in left] != [tuple(r) for r in right]:
            only_live = set(map(tuple, left)) - set(map(tuple, right))
            only_rebuilt = set(map(tuple, right)) - set(map(tuple, left))
            report.differences[name] = len(only_live) + len(only_rebuilt)
            for row in sorted(only_live, key=repr)[:2]:
                report.examples.append(f"{name}: live has {row}")
            for row in sorted(only_rebuilt, key=repr)[:2]:
                report.examples.append(f"{name}: replay has {row}")


def replay(
    engine: Engine,
    *,
    apply_result: bool = False,
    progress: Callable[[int], object] | None = None,
) -> ReplayReport:
    """Rebuild every projection from the ledger into fresh tables and compare with the live ones.

    With ``apply_result`` the live tables are replaced by the rebuilt ones, under
    the write lock, in one transaction.
    """
    meta, rebuilt = fresh_tables(REPLAY_PREFIX)
    with write_transaction(engine) as conn:
        _drop(conn, meta)
        meta.create_all(conn)
        size = statements.log_size(conn)
        report = _replay_into(conn, rebuilt, int(size), progress)
        _compare(conn, LIVE, rebuilt, report)
        if apply_result and not report.equal:
            for name in LIVE.names():
                conn.execute(LIVE[name].delete())
                conn.execute(
                    insert(LIVE[name]).from_select(
                        [c.name for c in rebuilt[name].columns], select(rebuilt[name])
                    )
                )
            report.applied = True
        _drop(conn, meta)
    return report


def _drop(conn: Connection, meta: MetaData) -> None:
    meta.drop_all(conn, checkfirst=True)
