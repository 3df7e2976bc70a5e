"""The log: sequencing appends, tiles, signed checkpoints, and reads with proofs.

One process may hold many ``Ledger`` readers, but appends are serialised by the
database (SQLite ``BEGIN IMMEDIATE``, PostgreSQL row lock). Each append batch is
one transaction holding its entries, their tiles, the redactions they perform,
whatever the batch hooks write (projections) and one signed checkpoint, so a
crash leaves either all of it or none of it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from ledger.store.clock import LogClock
from ledger.store.engine import driver_connection, is_sqlite, read_transaction, write_transaction
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint, format_tlog_proof
from ledger.tlog.envelope import (
    ENVELOPE_FORMAT,
    ZERO_HASH,
    EnvelopeError,
    check_kind,
    check_label,
    check_time,
    json_label,
    parse_envelope,
)
from ledger.tlog.merkle import Node, ProofError
from ledger.tlog.note import Signer, Verifier
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, TileTree, TreeBuilder, node_location

REDACTION_KIND = "entry.redacted"
SALT_SIZE = 16
DEFAULT_BULK_BATCH = 20_000
TILE_CACHE_SIZE = 4096
_HASH = merkle.HASH_SIZE

_sha256 = hashlib.sha256
_b64 = base64.b64encode


class LedgerError(RuntimeError):
    """The log cannot do what was asked (it is not corrupt)."""


class LedgerCorruptError(LedgerError):
    """Stored state disagrees with itself; the log refuses to sign on top of it."""


class RetryBatch(LedgerError):
    """A hook's optimistic assumption did not hold: run the batch again, with care.

    The transaction is rolled back; on the second run hooks are told the batch is
    not ``continuing`` and check everything against the database.
    """


class EntryRejected(ValueError):
    """One entry of a batch was refused; nothing of it was written."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NewEntry:
    """A fact to record. ``payload`` is already canonical JSON (RFC 8785)."""

    __slots__ = (
        "actor",
        "actor_json",
        "kind",
        "payload",
        "record",
        "redacts",
        "request_hash",
        "request_key",
        "subject",
        "subject_json",
        "time",
        "validated",
    )

    def __init__(
        self,
        kind: str,
        subject: str,
        payload: bytes,
        actor: str,
        *,
        time: str | None = None,
        redacts: int | None = None,
        record: Any = None,
        request_key: str | None = None,
    ) -> None:
        self.kind = check_kind(kind)
        self.subject = check_label("subject", subject)
        self.actor = check_label("actor", actor)
        self.time = check_time(time) if time is not None else None
        self.payload = payload
        self.redacts = redacts
        self.record = record  # the parsed record, when the caller has it
        # True once the payload passed its kind's schema (record_entry, or a trusted pipeline).
        self.validated = record is not None
        # A caller's key for this request: appending it again returns the first entry.
        self.request_key = request_key
        self.request_hash = (
            hashlib.sha256(kind.encode() + b"\n" + payload).digest() if request_key else None
        )
        if (kind == REDACTION_KIND) != (redacts is not None):
            raise EnvelopeError("an entry.redacted entry, and only it, names the entry it redacts")
        self.subject_json = json_label(subject)
        self.actor_json = json_label(actor)


def trusted_entry(  # noqa: PLR0917 - the envelope's fields, in order
    kind: str,
    subject: str,
    payload: bytes,
    actor: str,
    time: str | None,
    subject_json: bytes | None = None,
    actor_json: bytes | None = None,
) -> NewEntry:
    """A NewEntry from fields another process has already validated (bulk pipelines)."""
    entry = NewEntry.__new__(NewEntry)
    entry.kind, entry.subject, entry.payload, entry.actor, entry.time = (
        kind,
        subject,
        payload,
        actor,
        time,
    )
    entry.redacts = None
    entry.record = None
    entry.validated = True
    entry.request_key = entry.request_hash = None
    entry.subject_json = subject_json or json_label(subject)
    entry.actor_json = actor_json or json_label(actor)
    return entry


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class BatchResult:
    """What one committed transaction appended, and the checkpoint that covers it."""

    first_index: int
    leaf_hashes: list[bytes]
    checkpoint: SignedCheckpoint | None  # None only when nothing was appended to an empty log
    rejected: dict[int, EntryRejected] = field(default_factory=dict)  # position in batch -> why
    indices: list[int | None] = field(default_factory=list)  # position in batch -> index
    # Positions whose request key was seen before: they were not appended again,
    # ``indices`` gives the entry that the first request created.
    repeated: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf_input: bytes
    salt: bytes | None
    payload: bytes | None

    @property
    def leaf_hash(self) -> bytes:
        return merkle.hash_leaf(self.leaf_input)

    @property
    def redacted(self) -> bool:
        return self.payload is None


class BatchHook(Protocol):
    """Extension point for record rules and projections, run under the write lock."""

    def begin(self, conn: Connection, entries: Sequence[NewEntry], continuing: bool) -> None:
        """A batch starts: load what its checks will need.

        ``continuing`` is true when nothing but this process's own committed batches
        came since the last one, so state cached from them is still exact.
        """

    def check(self, entry: NewEntry, index: int, time: str) -> None:
        """Raise EntryRejected to refuse ``entry``; otherwise stage its effects."""

    def finish(self, conn: Connection, redacted: Sequence[int]) -> None:
        """Write the staged effects in the batch's transaction; ``redacted`` payloads are gone."""


# --- tile access --------------------------------------------------------------


class TileCache:
    """LRU of tile trees. A tile only ever grows, so any cached prefix stays valid."""

    def __init__(self, capacity: int = TILE_CACHE_SIZE) -> None:
        self._capacity = capacity
        self._tiles: OrderedDict[tuple[int, int], TileTree] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, level: int, index: int, min_width: int) -> TileTree | None:
        with self._lock:
            tree = self._tiles.get((level, index))
            if tree is None or tree.width < min_width:
                return None
            self._tiles.move_to_end((level, index))
            return tree

    def put(self, level: int, index: int, tree: TileTree) -> None:
        with self._lock:
            current = self._tiles.get((level, index))
            if current is not None and current.width >= tree.width:
                return
            self._tiles[(level, index)] = tree
            self._tiles.move_to_end((level, index))
            while len(self._tiles) > self._capacity:
                self._tiles.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()


def read_tile_hashes(conn: Connection, level: int, index: int) -> bytes | None:
    row = conn.exec_driver_sql(
        _ph(conn, "SELECT hashes FROM ledger_tiles WHERE level = ? AND idx = ?"), (level, index)
    ).first()
    return bytes(row[0]) if row else None


class TileReader:
    """Answers Merkle nodes from stored tiles through the cache.

    Without a connection it opens a read transaction only when a tile is not
    cached, so proofs for fresh appends cost no database round trip.
    """

    def __init__(
        self, conn: Connection | None, cache: TileCache, engine: Engine | None = None
    ) -> None:
        self._conn = conn
        self._cache = cache
        self._engine = engine
        self._stack: ExitStack | None = None

    def __enter__(self) -> TileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self._conn = None

    def _connection(self) -> Connection:
        if self._conn is None:
            if self._engine is None:
                raise LedgerError("tile reader has neither a connection nor an engine")
            self._stack = ExitStack()
            self._conn = self._stack.enter_context(read_transaction(self._engine))
        return self._conn

    def tile(self, level: int, index: int, min_width: int) -> TileTree:
        tree = self._cache.get(level, index, min_width)
        if tree is None:
            hashes = read_tile_hashes(self._connection(), level, index)
            if hashes is None or len(hashes) < min_width * _HASH:
                have = 0 if hashes is None else len(hashes) // _HASH
                raise LedgerCorruptError(
                    f"tile {level}/{index} holds {have} hashes, expected at least {min_width}"
                )
            tree = TileTree(hashes)
            self._cache.put(level, index, tree)
        return tree

    def read_nodes(self, nodes: list[Node]) -> list[bytes]:
        out = []
        for level, index in nodes:
            tile_level, tile_index, sublevel, position = node_location(level, index)
            tree = self.tile(tile_level, tile_index, (position + 1) << sublevel)
            out.append(tree.node(sublevel, position))
        return out


# --- the sequencer's view of the right edge ------------------------------------


@dataclass
class _Head:
    """The right edge of the tree: enough to append and to compute the root."""

    size: int
    prev: bytes  # leaf hash of the last entry (zero hash when empty)
    builder: TreeBuilder
    checkpoint: SignedCheckpoint | None


def _ph(conn: Connection, sql: str) -> str:
    """Write SQL with ? placeholders; PostgreSQL's driver wants %s."""
    return sql if is_sqlite_conn(conn) else sql.replace("?", "%s")


def is_sqlite_conn(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


class Ledger:
    """Append to and read from the log stored behind ``engine``."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        origin: str,
        hooks: Sequence[BatchHook] = (),
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.origin = origin
        self.verifier: Verifier = signer.verifier
        self.hooks = list(hooks)
        self.tiles = TileCache()
        self._head: _Head | None = None
        self._last_time: tuple[int, str | None] = (-1, None)  # (size, time of its last entry)
        self._sequencer_lock = threading.Lock()  # one sequencer per process at a time
        self._check_identity()

    # -- identity ---------------------------------------------------------------

    def _check_identity(self) -> None:
        """Pin origin and verifier key at the first start; refuse a different one later."""
        with write_transaction(self.engine) as conn:
            rows: dict[str, str] = dict(
                conn.exec_driver_sql("SELECT key, value FROM ledger_meta").all()
            )
            wanted = {"origin": self.origin, "verifier_key": str(self.verifier)}
            if not rows:
                conn.exec_driver_sql(
                    _ph(conn, "INSERT INTO ledger_meta (key, value) VALUES (?, ?)"),
                    list(wanted.items()),
                )
                return
        for key, value in wanted.items():
            if rows.get(key) != value:
                raise LedgerError(
                    f"this database belongs to a log with {key} {rows.get(key)!r}, "
                    f"but the configured {key} is {value!r}"
                )

    def reset(self) -> None:
        """Forget cached state after the database was changed behind this object's back."""
        with self._sequencer_lock:
            self._head = None
            self.tiles.clear()

    # -- head state --------------------------------------------------------------

    def _load_head(self, conn: Connection) -> _Head:
        row = conn.exec_driver_sql(
            "SELECT size, root, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
        ).first()
        checkpoint = SignedCheckpoint(row[0], bytes(row[1]), row[2]) if row else None
        size = checkpoint.size if checkpoint else 0
        last = conn.exec_driver_sql("SELECT max(idx) FROM ledger_entries").scalar()
        entries = 0 if last is None else last + 1
        if entries != size:
            raise LedgerCorruptError(
                f"the log holds {entries} entries but its latest checkpoint is for {size}"
            )
        partials: list[bytes] = []
        level = 0
        while size >> (TILE_HEIGHT * level):
            count = size >> (TILE_HEIGHT * level)
            width = count % TILE_WIDTH
            hashes = b""
            if width:
                stored = read_tile_hashes(conn, level, count >> TILE_HEIGHT) or b""
                if len(stored) != width * _HASH:
                    raise LedgerCorruptError(
                        f"tile {level}/{count >> TILE_HEIGHT} holds {len(stored) // _HASH} hashes, "
                        f"expected {width} for size {size}"
                    )
                hashes = stored
            partials.append(hashes)
            level += 1
        if size == 0:
            prev = ZERO_HASH
        elif partials[0]:
            prev = partials[0][-_HASH:]
        else:
            full = read_tile_hashes(conn, 0, (size >> TILE_HEIGHT) - 1)
            if full is None or len(full) != TILE_WIDTH * _HASH:
                raise LedgerCorruptError(f"tile 0/{(size >> TILE_HEIGHT) - 1} is missing or short")
            prev = full[-_HASH:]
        head = _Head(size, prev, TreeBuilder(size, partials), checkpoint)
        if checkpoint is not None and head.builder.root() != checkpoint.root:
            raise LedgerCorruptError(
                f"stored tiles give root {head.builder.root().hex()} at size {size}, "
                f"but the signed checkpoint says {checkpoint.root.hex()}"
            )
        return head

    def _current_head(self, conn: Connection) -> _Head:
        size = conn.exec_driver_sql("SELECT max(size) FROM ledger_checkpoints").scalar() or 0
        head = self._head
        if head is None or head.size != size:
            head = self._load_head(conn)
        return head

    # -- appending ----------------------------------------------------------------

    def append(
        self,
        entries: Sequence[NewEntry],
        *,
        index_leaves: bool = True,
        all_or_nothing: bool = False,
    ) -> BatchResult:
        """Append ``entries`` in one transaction with one checkpoint.

        Entries that a check refuses are left out and reported in ``rejected``;
        the others are appended in order. With ``all_or_nothing`` one refusal
        means nothing of the batch is written.
        """
        with self._sequencer_lock:
            try:
                return self._append(entries, index_leaves, all_or_nothing)
            except RetryBatch:
                self._head = None  # not continuing: hooks check everything this time
                return self._append(entries, index_leaves, all_or_nothing)

    def _append(
        self, entries: Sequence[NewEntry], index_leaves: bool, all_or_nothing: bool
    ) -> BatchResult:
        try:
            with write_transaction(self.engine) as conn:
                continuing = self._head is not None
                head = self._current_head(conn)
                continuing = continuing and head is self._head
                clock = LogClock(self._time_of_last(conn, head.size))
                now = clock.now
                accepted, rejected, indices, repeated = self._screen(
                    conn, head, entries, continuing, clock
                )
                if all_or_nothing and rejected:
                    return BatchResult(
                        head.size, [], head.checkpoint, rejected, [None] * len(entries)
                    )
                if not accepted:
                    return BatchResult(head.size, [], head.checkpoint, rejected, indices, repeated)
                result, new_head = self._write_batch(conn, head, accepted, index_leaves, now)
            self._head = new_head
            self._last_time = (new_head.size, clock.last)
            return BatchResult(
                result.first_index,
                result.leaf_hashes,
                result.checkpoint,
                rejected,
                indices,
                repeated,
            )
        except BaseException:
            self._head = None  # whatever happened, re-read the edge from the database
            raise

    def _screen(
        self,
        conn: Connection,
        head: _Head,
        entries: Sequence[NewEntry],
        continuing: bool,
        clock: LogClock,
    ) -> tuple[list[NewEntry], dict[int, EntryRejected], list[int | None], set[int]]:
        now = clock.now  # the time stamped on entries that give none (the batch's own)
        for hook in self.hooks:
            hook.begin(conn, entries, continuing)
        accepted: list[NewEntry] = []
        rejected: dict[int, EntryRejected] = {}
        indices: list[int | None] = []
        repeated: set[int] = set()
        redacting: set[int] = set()
        known = self._request_keys(conn, entries)
        for position, entry in enumerate(entries):
            index = head.size + len(accepted)
            if entry.request_key is not None and entry.request_key in known:
                first_index, first_hash = known[entry.request_key]
                if first_hash != entry.request_hash:
                    rejected[position] = EntryRejected(
                        "this request key was used before for a different record",
                        field="Idempotency-Key",
                    )
                    indices.append(None)
                else:
                    repeated.add(position)
                    indices.append(first_index)
                continue
            try:
                if entry.time is not None and (why := clock.refusal(entry.time)):
                    raise EntryRejected(why, field="time")
                if entry.time is None and clock.last > now:
                    entry.time = clock.last  # after a given time up to the skew ahead of now
                if entry.redacts is not None:
                    self._check_redaction(conn, entry.redacts, index, redacting)
                for hook in self.hooks:
                    hook.check(entry, index, entry.time or now)
            except EntryRejected as exc:
                rejected[position] = exc
                indices.append(None)
                continue
            clock.accept(entry.time or now)
            if entry.redacts is not None:
                redacting.add(entry.redacts)
            if entry.request_key is not None:
                assert entry.request_hash is not None
                known[entry.request_key] = (index, entry.request_hash)
            accepted.append(entry)
            indices.append(index)
        return accepted, rejected, indices, repeated

    def _time_of_last(self, conn: Connection, size: int) -> str | None:
        """The time of the log's last entry (cached by size: entries never change)."""
        if size == 0:
            return None
        if self._last_time[0] == size:
            return self._last_time[1]
        row = conn.exec_driver_sql(
            _ph(conn, "SELECT leaf_input FROM ledger_entries WHERE idx = ?"), (size - 1,)
        ).first()
        return None if row is None else parse_envelope(bytes(row[0])).time

    def _request_keys(
        self, conn: Connection, entries: Sequence[NewEntry]
    ) -> dict[str, tuple[int, bytes]]:
        keys = sorted({e.request_key for e in entries if e.request_key is not None})
        found: dict[str, tuple[int, bytes]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = conn.exec_driver_sql(
                _ph(
                    conn,
                    f"SELECT request_key, idx, request_hash FROM ledger_request_keys "
                    f"WHERE request_key IN ({marks})",
                ),
                tuple(chunk),
            ).all()
            found.update({r[0]: (int(r[1]), bytes(r[2])) for r in rows})
        return found

    def first_checkpoint_covering(
        self, index: int, conn: Connection | None = None
    ) -> SignedCheckpoint | None:
        """The checkpoint signed with the batch that appended ``index``."""
        with self._reading(conn) as c:
            row = c.exec_driver_sql(
                _ph(
                    c,
                    "SELECT size, root, note FROM ledger_checkpoints WHERE size > ? "
                    "ORDER BY size LIMIT 1",
                ),
                (index,),
            ).first()
        return SignedCheckpoint(row[0], bytes(row[1]), row[2]) if row else None

    def _check_redaction(
        self, conn: Connection, target: int, index: int, pending: set[int]
    ) -> None:
        if not 0 <= target < index:
            raise EntryRejected(f"index: entry {target} does not exist", field="index")
        if target in pending:
            raise EntryRejected(f"index: entry {target} is already being redacted", field="index")
        row = conn.exec_driver_sql(
            _ph(conn, "SELECT leaf_input, payload FROM ledger_entries WHERE idx = ?"), (target,)
        ).first()
        if row is None:
            raise EntryRejected(
                f"index: entry {target} is in this batch; redact it in a later one", field="index"
            )
        if parse_envelope(bytes(row[0])).kind == REDACTION_KIND:
            raise EntryRejected(f"index: entry {target} is itself a redaction", field="index")
        if row[1] is None:
            raise EntryRejected(f"index: entry {target} is already redacted", field="index")

    def _write_batch(
        self,
        conn: Connection,
        head: _Head,
        entries: Sequence[NewEntry],
        index_leaves: bool,
        now_text: str,
    ) -> tuple[BatchResult, _Head]:
        first = head.size
        count = len(entries)
        salts = os.urandom(SALT_SIZE * count)
        now = now_text.encode()
        prev_b64 = _b64(head.prev)
        rows: list[tuple[int, bytes, bytes, bytes]] = []
        leaf_hashes: list[bytes] = []
        fmt = ENVELOPE_FORMAT  # build_envelope's format, inlined on the hot path
        sha = _sha256
        b64 = _b64
        index = first
        for position, entry in enumerate(entries):
            salt = salts[SALT_SIZE * position : SALT_SIZE * position + SALT_SIZE]
            payload = entry.payload
            envelope = fmt % (
                entry.actor_json,
                index,
                entry.kind.encode(),
                b64(sha(salt + payload).digest()),
                prev_b64,
                entry.subject_json,
                entry.time.encode() if entry.time else now,
            )
            leaf_hash = sha(b"\x00" + envelope).digest()
            prev_b64 = b64(leaf_hash)
            leaf_hashes.append(leaf_hash)
            rows.append((index, envelope, salt, payload))
            index += 1

        builder = head.builder
        changed: dict[tuple[int, int], TileTree] = {}
        builder.on_full_tile = lambda level, idx, tile: changed.__setitem__(
            (level, idx), tile.tree()
        )
        builder.extend(b"".join(leaf_hashes))
        builder.on_full_tile = None
        for level, idx, tile in builder.partial_tiles():
            changed[(level, idx)] = tile.tree()
        new_size = first + count
        root = builder.root()
        note = Checkpoint(self.origin, new_size, root).sign(self.signer)
        checkpoint = SignedCheckpoint(new_size, root, note)
        new_head = _Head(new_size, leaf_hashes[-1], builder, checkpoint)

        self._insert_entries(conn, rows)
        conn.exec_driver_sql(
            _ph(
                conn,
                "INSERT INTO ledger_tiles (level, idx, hashes) VALUES (?, ?, ?) "
                "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
            ),
            [(level, idx, tree.hashes) for (level, idx), tree in changed.items()],
        )
        conn.exec_driver_sql(
            _ph(conn, "INSERT INTO ledger_checkpoints (size, root, note) VALUES (?, ?, ?)"),
            (new_size, root, note),
        )
        redactions = [
            (e.redacts, first + i) for i, e in enumerate(entries) if e.redacts is not None
        ]
        if redactions:
            conn.exec_driver_sql(
                _ph(conn, "INSERT INTO ledger_redactions (target, entry) VALUES (?, ?)"), redactions
            )
            conn.exec_driver_sql(
                _ph(conn, "UPDATE ledger_entries SET salt = NULL, payload = NULL WHERE idx = ?"),
                [(target,) for target, _ in redactions],
            )
        request_keys = [
            (e.request_key, first + i, e.request_hash)
            for i, e in enumerate(entries)
            if e.request_key is not None
        ]
        if request_keys:
            conn.exec_driver_sql(
                _ph(
                    conn,
                    "INSERT INTO ledger_request_keys (request_key, idx, request_hash) "
                    "VALUES (?, ?, ?)",
                ),
                request_keys,
            )
        if index_leaves:
            self._index_leaves(conn, first, leaf_hashes)
        for hook in self.hooks:
            hook.finish(conn, [target for target, _ in redactions])

        for (level, idx), tree in changed.items():
            self.tiles.put(level, idx, tree)
        return BatchResult(first, leaf_hashes, checkpoint), new_head

    def _insert_entries(
        self, conn: Connection, rows: Sequence[tuple[int, bytes, bytes | None, bytes | None]]
    ) -> None:
        raw = driver_connection(conn)
        if is_sqlite(self.engine):
            raw.executemany(
                "INSERT INTO ledger_entries (idx, leaf_input, salt, payload) VALUES (?, ?, ?, ?)",
                rows,
            )
            return
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY ledger_entries (idx, leaf_input, salt, payload) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "bytea", "bytea", "bytea"])
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def _index_leaves(self, conn: Connection, first: int, leaf_hashes: list[bytes]) -> None:
        upto = conn.exec_driver_sql(
            "SELECT upto FROM ledger_progress WHERE name = 'leaf_index'"
        ).scalar_one()
        if upto != first:
            return  # a backlog from a bulk import; catch_up_leaf_index() fills it in order
        self._insert_leaf_index(conn, first, leaf_hashes)

    def _insert_leaf_index(self, conn: Connection, first: int, leaf_hashes: list[bytes]) -> None:
        rows = sorted(
            (int.from_bytes(h[:8], "big", signed=True), first + i)
            for i, h in enumerate(leaf_hashes)
        )
        conn.exec_driver_sql(
            _ph(conn, "INSERT INTO ledger_leaf_index (prefix, idx) VALUES (?, ?)"), rows
        )
        conn.exec_driver_sql(
            _ph(conn, "UPDATE ledger_progress SET upto = ? WHERE name = 'leaf_index'"),
            (first + len(leaf_hashes),),
        )

    def _leaf_index_behind(self) -> bool:
        with read_transaction(self.engine) as conn:
            upto = conn.exec_driver_sql(
                "SELECT upto FROM ledger_progress WHERE name = 'leaf_index'"
            ).scalar_one()
            size = conn.exec_driver_sql("SELECT max(size) FROM ledger_checkpoints").scalar() or 0
        return bool(upto < size)

    def catch_up_leaf_index(
        self,
        chunk: int = 262_144,
        progress: Callable[[int], object] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Index leaf hashes that bulk appends left out; returns how many were added."""
        added = 0
        while stop is None or not stop.is_set():
            with write_transaction(self.engine) as conn:
                upto = conn.exec_driver_sql(
                    "SELECT upto FROM ledger_progress WHERE name = 'leaf_index'"
                ).scalar_one()
                size = (
                    conn.exec_driver_sql("SELECT max(size) FROM ledger_checkpoints").scalar() or 0
                )
                if upto >= size:
                    return added
                end = min(size, upto + chunk)
                hashes = self._leaf_hashes(conn, upto, end)
                self._insert_leaf_index(conn, upto, hashes)
            added += end - upto
            if progress:
                progress(end - upto)
        return added

    def append_bulk(
        self,
        entries: Iterable[NewEntry],
        *,
        batch_size: int = DEFAULT_BULK_BATCH,
        progress: Callable[[BatchResult], None] | None = None,
        all_or_nothing: bool = False,
    ) -> Iterator[BatchResult]:
        """Append a stream in transactions of ``batch_size`` entries, each checkpointed.

        The leaf-hash index is left for ``catch_up_leaf_index`` so the bulk path
        writes sequentially; call it when the stream is done.
        """
        batch: list[NewEntry] = []
        for entry in entries:
            batch.append(entry)
            if len(batch) >= batch_size:
                result = self.append(batch, index_leaves=False, all_or_nothing=all_or_nothing)
                if progress:
                    progress(result)
                yield result
                batch = []
        if batch:
            result = self.append(batch, index_leaves=False, all_or_nothing=all_or_nothing)
            if progress:
                progress(result)
            yield result

    # -- reading -------------------------------------------------------------------

    def latest_checkpoint(self, conn: Connection | None = None) -> SignedCheckpoint | None:
        with self._reading(conn) as c:
            row = c.exec_driver_sql(
                "SELECT size, root, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
            ).first()
        return SignedCheckpoint(row[0], bytes(row[1]), row[2]) if row else None

    def checkpoint_at(self, size: int, conn: Connection | None = None) -> SignedCheckpoint | None:
        with self._reading(conn) as c:
            row = c.exec_driver_sql(
                _ph(c, "SELECT size, root, note FROM ledger_checkpoints WHERE size = ?"), (size,)
            ).first()
        return SignedCheckpoint(row[0], bytes(row[1]), row[2]) if row else None

    def size(self) -> int:
        checkpoint = self.latest_checkpoint()
        return checkpoint.size if checkpoint else 0

    def entry(self, index: int, conn: Connection | None = None) -> StoredEntry | None:
        with self._reading(conn) as c:
            row = c.exec_driver_sql(
                _ph(c, "SELECT idx, leaf_input, salt, payload FROM ledger_entries WHERE idx = ?"),
                (index,),
            ).first()
        return _stored(row) if row else None

    def entries(self, start: int, end: int, conn: Connection | None = None) -> list[StoredEntry]:
        with self._reading(conn) as c:
            rows = c.exec_driver_sql(
                _ph(
                    c,
                    "SELECT idx, leaf_input, salt, payload FROM ledger_entries "
                    "WHERE idx >= ? AND idx < ? ORDER BY idx",
                ),
                (start, end),
            ).all()
        return [_stored(row) for row in rows]

    def redaction_of(self, index: int, conn: Connection | None = None) -> int | None:
        """The index of the entry.redacted entry that redacted ``index``, if any."""
        with self._reading(conn) as c:
            entry = c.exec_driver_sql(
                _ph(c, "SELECT entry FROM ledger_redactions WHERE target = ?"), (index,)
            ).scalar()
        return None if entry is None else int(entry)

    def index_of_leaf(self, leaf_hash: bytes, conn: Connection | None = None) -> int | None:
        if len(leaf_hash) != _HASH:
            return None
        if self._leaf_index_behind():
            self.catch_up_leaf_index()
        prefix = int.from_bytes(leaf_hash[:8], "big", signed=True)
        with self._reading(conn) as c:
            candidates = (
                c.exec_driver_sql(
                    _ph(c, "SELECT idx FROM ledger_leaf_index WHERE prefix = ? ORDER BY idx"),
                    (prefix,),
                )
                .scalars()
                .all()
            )
            for index in candidates:
                entry = self.entry(index, c)
                if entry is not None and entry.leaf_hash == leaf_hash:
                    return int(index)
        return None

    def _tile_reader(self, conn: Connection | None) -> TileReader:
        return TileReader(conn, self.tiles, self.engine)

    def _leaf_hashes(self, conn: Connection, start: int, end: int) -> list[bytes]:
        reader = self._tile_reader(conn)
        out: list[bytes] = []
        for tile_index in range(start >> TILE_HEIGHT, ((end - 1) >> TILE_HEIGHT) + 1):
            tile_start = tile_index << TILE_HEIGHT
            width = min(TILE_WIDTH, end - tile_start)
            tree = reader.tile(0, tile_index, width)
            lo = max(start, tile_start) - tile_start
            out.extend(tree.hashes[i * _HASH : (i + 1) * _HASH] for i in range(lo, width))
        return out

    def root(self, size: int, conn: Connection | None = None) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        with self._tile_reader(conn) as reader:
            return merkle.fold_right(reader.read_nodes(merkle.perfect_nodes(0, size)))

    def inclusion_proof(self, index: int, size: int, conn: Connection | None = None) -> list[bytes]:
        ranges = merkle.inclusion_ranges(index, size)
        with self._tile_reader(conn) as reader:
            return merkle.resolve_ranges(ranges, reader.read_nodes)

    def consistency_proof(
        self, first: int, second: int, conn: Connection | None = None
    ) -> list[bytes]:
        ranges = merkle.consistency_ranges(first, second)
        with self._tile_reader(conn) as reader:
            return merkle.resolve_ranges(ranges, reader.read_nodes)

    def tlog_proof(
        self, index: int, checkpoint: SignedCheckpoint, conn: Connection | None = None
    ) -> str:
        if not 0 <= index < checkpoint.size:
            raise ProofError(f"entry {index} is not in the tree of size {checkpoint.size}")
        return format_tlog_proof(
            index, self.inclusion_proof(index, checkpoint.size, conn), checkpoint.note
        )

    def tile_bytes(
        self, level: int, index: int, width: int, conn: Connection | None = None
    ) -> bytes | None:
        """A tile as served: ``width`` hashes, or None when the log has not got that far."""
        with self._reading(conn) as c:
            cached = self.tiles.get(level, index, width)
            hashes = cached.hashes if cached else read_tile_hashes(c, level, index)
        if hashes is None or len(hashes) < width * _HASH:
            return None
        return hashes[: width * _HASH]

    def entry_bundle(self, index: int, width: int, conn: Connection | None = None) -> bytes | None:
        start = index << TILE_HEIGHT
        entries = self.entries(start, start + width, conn)
        if len(entries) < width:
            return None
        return b"".join(len(e.leaf_input).to_bytes(2, "big") + e.leaf_input for e in entries)

    def _reading(self, conn: Connection | None) -> Any:
        if conn is not None:
            return _Borrowed(conn)
        return read_transaction(self.engine)


class _Borrowed:
    """Use a caller's connection as a context manager without closing it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __enter__(self) -> Connection:
        return self._conn

    def __exit__(self, *exc: object) -> None:
        return None


def _stored(row: Any) -> StoredEntry:
    return StoredEntry(
        int(row[0]),
        bytes(row[1]),
        None if row[2] is None else bytes(row[2]),
        None if row[3] is None else bytes(row[3]),
    )
