"""Every statement on the ledger's tables, each a small function over a connection.

Checkpoint, entry and tile rows are turned into their types here and nowhere
else. The raw-driver hot paths (bulk insert, database verify, replay) take
their SQL text from here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from ledger.store.engine import driver_connection
from ledger.store.entries import SignedCheckpoint, StoredEntry
from ledger.store.sql import is_sqlite_dialect, placeholders

LEAF_INDEX = "leaf_index"  # the ledger_progress row of the leaf-hash index
REQUEST_KEY_CHUNK = 500  # keys per IN (...) lookup, well under both drivers' limits

ENTRY_COLUMNS = "idx, leaf_input, salt, payload"
ENTRY_RANGE = f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx"
# Replay reads no salts: the payloads are applied, not re-verified.
ENVELOPE_PAYLOAD_RANGE = (
    "SELECT idx, leaf_input, payload FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx"
)
ENTRY_AT = f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE idx = ?"
INSERT_ENTRY = f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) VALUES (?, ?, ?, ?)"
COPY_ENTRIES = f"COPY ledger_entries ({ENTRY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
TILE_AT = "SELECT hashes FROM ledger_tiles WHERE level = ? AND idx = ?"
LEVEL0_TILE_RANGE = "SELECT idx, hashes FROM ledger_tiles WHERE level = 0 AND idx >= ? AND idx <= ?"
INSERT_TILE = "INSERT INTO ledger_tiles (level, idx, hashes) VALUES (?, ?, ?)"
CHECKPOINT_COLUMNS = "SELECT size, root, note FROM ledger_checkpoints"
LATEST_SIZE = "SELECT size FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"


# --- rows to types ---------------------------------------------------------------


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def checkpoint_of(row: Any) -> SignedCheckpoint:
    return SignedCheckpoint(int(row[0]), bytes(row[1]), row[2])


def entry_of(row: Any) -> StoredEntry:
    return StoredEntry(int(row[0]), bytes(row[1]), _opt_bytes(row[2]), _opt_bytes(row[3]))


# --- identity ---------------------------------------------------------------------


def read_meta(conn: Connection) -> dict[str, str]:
    return dict(conn.exec_driver_sql("SELECT key, value FROM ledger_meta").all())


def insert_meta(conn: Connection, values: dict[str, str]) -> None:
    conn.exec_driver_sql(
        placeholders(conn, "INSERT INTO ledger_meta (key, value) VALUES (?, ?)"),
        list(values.items()),
    )


# --- checkpoints --------------------------------------------------------------------


def log_size(conn: Connection) -> int:
    """The size of the latest signed checkpoint (0 for an empty log)."""
    return int(conn.exec_driver_sql("SELECT max(size) FROM ledger_checkpoints").scalar() or 0)


def latest_checkpoint(conn: Connection) -> SignedCheckpoint | None:
    row = conn.exec_driver_sql(f"{CHECKPOINT_COLUMNS} ORDER BY size DESC LIMIT 1").first()
    return checkpoint_of(row) if row else None


def checkpoint_at(conn: Connection, size: int) -> SignedCheckpoint | None:
    row = conn.exec_driver_sql(
        placeholders(conn, f"{CHECKPOINT_COLUMNS} WHERE size = ?"), (size,)
    ).first()
    return checkpoint_of(row) if row else None


def first_checkpoint_covering(conn: Connection, index: int) -> SignedCheckpoint | None:
    row = conn.exec_driver_sql(
        placeholders(conn, f"{CHECKPOINT_COLUMNS} WHERE size > ? ORDER BY size LIMIT 1"), (index,)
    ).first()
    return checkpoint_of(row) if row else None


def all_checkpoints(conn: Connection) -> list[SignedCheckpoint]:
    return [checkpoint_of(r) for r in conn.exec_driver_sql(f"{CHECKPOINT_COLUMNS} ORDER BY size")]


def has_checkpoints(conn: Connection) -> bool:
    return bool(conn.exec_driver_sql("SELECT count(*) FROM ledger_checkpoints").scalar())


def insert_checkpoint(conn: Connection, checkpoint: SignedCheckpoint) -> None:
    conn.exec_driver_sql(
        placeholders(conn, "INSERT INTO ledger_checkpoints (size, root, note) VALUES (?, ?, ?)"),
        (checkpoint.size, checkpoint.root, checkpoint.note),
    )


# --- entries ------------------------------------------------------------------------


def last_entry_index(conn: Connection) -> int | None:
    last = conn.exec_driver_sql("SELECT max(idx) FROM ledger_entries").scalar()
    return None if last is None else int(last)


def entry_at(conn: Connection, index: int) -> StoredEntry | None:
    row = conn.exec_driver_sql(placeholders(conn, ENTRY_AT), (index,)).first()
    return entry_of(row) if row else None


def entry_range(conn: Connection, start: int, end: int) -> list[StoredEntry]:
    rows = conn.exec_driver_sql(placeholders(conn, ENTRY_RANGE), (start, end)).all()
    return [entry_of(row) for row in rows]


def first_entry_from(conn: Connection, index: int) -> int | None:
    """The lowest stored index at or above ``index`` (entries beyond the checkpoint)."""
    found = conn.exec_driver_sql(
        placeholders(conn, "SELECT min(idx) FROM ledger_entries WHERE idx >= ?"), (index,)
    ).scalar()
    return None if found is None else int(found)


def envelope_at(conn: Connection, index: int) -> bytes | None:
    found = conn.exec_driver_sql(
        placeholders(conn, "SELECT leaf_input FROM ledger_entries WHERE idx = ?"), (index,)
    ).scalar()
    return None if found is None else bytes(found)


def envelopes_and_payloads(
    conn: Connection, indices: Sequence[int]
) -> dict[int, tuple[bytes, bytes | None]]:
    """Index -> (envelope, payload or None when redacted) for the given entries."""
    marks = ", ".join("?" * len(indices))
    rows = conn.exec_driver_sql(
        placeholders(
            conn, f"SELECT idx, leaf_input, payload FROM ledger_entries WHERE idx IN ({marks})"
        ),
        tuple(indices),
    )
    return {int(r[0]): (bytes(r[1]), _opt_bytes(r[2])) for r in rows}


def leaf_input_and_payload(conn: Connection, index: int) -> tuple[bytes, bytes | None] | None:
    row = conn.exec_driver_sql(
        placeholders(conn, "SELECT leaf_input, payload FROM ledger_entries WHERE idx = ?"),
        (index,),
    ).first()
    return None if row is None else (bytes(row[0]), _opt_bytes(row[1]))


Row = tuple[int, bytes, bytes | None, bytes | None]


def insert_entries(conn: Connection, rows: Sequence[Row]) -> None:
    """Many entry rows through the driver: executemany on SQLite, binary COPY on PostgreSQL."""
    raw = driver_connection(conn)
    if is_sqlite_dialect(conn.dialect.name):
        raw.executemany(INSERT_ENTRY, rows)
        return
    with raw.cursor() as cursor, cursor.copy(COPY_ENTRIES) as copy:
        copy.set_types(["int8", "bytea", "bytea", "bytea"])
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def drop_payloads(conn: Connection, targets: Iterable[int]) -> None:
    conn.exec_driver_sql(
        placeholders(conn, "UPDATE ledger_entries SET salt = NULL, payload = NULL WHERE idx = ?"),
        [(target,) for target in targets],
    )


# --- tiles --------------------------------------------------------------------------


def tile_hashes(conn: Connection, level: int, index: int) -> bytes | None:
    row = conn.exec_driver_sql(placeholders(conn, TILE_AT), (level, index)).first()
    return bytes(row[0]) if row else None


def level0_tiles(conn: Connection, low: int, high: int) -> list[tuple[int, bytes]]:
    """(tile index, hashes) of the stored level-0 tiles ``low..high``, in order."""
    rows = conn.exec_driver_sql(
        placeholders(conn, f"{LEVEL0_TILE_RANGE} ORDER BY idx"), (low, high)
    ).all()
    return [(int(i), bytes(h)) for i, h in rows]


def insert_tiles(conn: Connection, tiles: Sequence[tuple[int, int, bytes]]) -> None:
    conn.exec_driver_sql(placeholders(conn, INSERT_TILE), tiles)


def upsert_tiles(conn: Connection, tiles: Sequence[tuple[int, int, bytes]]) -> None:
    conn.exec_driver_sql(
        placeholders(
            conn, f"{INSERT_TILE} ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes"
        ),
        tiles,
    )


def tile_count(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT count(*) FROM ledger_tiles").scalar() or 0)


# --- redactions ---------------------------------------------------------------------


def redaction_of(conn: Connection, target: int) -> int | None:
    entry = conn.exec_driver_sql(
        placeholders(conn, "SELECT entry FROM ledger_redactions WHERE target = ?"), (target,)
    ).scalar()
    return None if entry is None else int(entry)


def all_redactions(conn: Connection) -> dict[int, int]:
    """Target -> the entry that redacted it."""
    rows = conn.exec_driver_sql("SELECT target, entry FROM ledger_redactions")
    return {int(t): int(e) for t, e in rows}


def redacted_since(conn: Connection, size: int) -> set[int]:
    """Targets of redactions appended at or after ``size``."""
    rows = conn.exec_driver_sql(
        placeholders(conn, "SELECT target FROM ledger_redactions WHERE entry >= ?"), (size,)
    ).all()
    return {int(r[0]) for r in rows}


def insert_redactions(conn: Connection, pairs: Sequence[tuple[int, int]]) -> None:
    """(target, redacting entry) pairs."""
    conn.exec_driver_sql(
        placeholders(conn, "INSERT INTO ledger_redactions (target, entry) VALUES (?, ?)"), pairs
    )


# --- request keys -------------------------------------------------------------------


def request_keys(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """Key -> (index it created, hash of its request), for the keys already used."""
    found: dict[str, tuple[int, bytes]] = {}
    for start in range(0, len(keys), REQUEST_KEY_CHUNK):
        chunk = keys[start : start + REQUEST_KEY_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.exec_driver_sql(
            placeholders(
                conn,
                "SELECT request_key, idx, request_hash FROM ledger_request_keys "
                f"WHERE request_key IN ({marks})",
            ),
            tuple(chunk),
        ).all()
        found.update({r[0]: (int(r[1]), bytes(r[2])) for r in rows})
    return found


def request_keys_below(conn: Connection, size: int) -> list[tuple[str, int, bytes]]:
    """Every request key of the entries before ``size``, in key order (for an export)."""
    rows = conn.exec_driver_sql(
        placeholders(
            conn,
            "SELECT request_key, idx, request_hash FROM ledger_request_keys "
            "WHERE idx < ? ORDER BY request_key",
        ),
        (size,),
    ).all()
    return [(str(r[0]), int(r[1]), bytes(r[2])) for r in rows]


def insert_request_keys(conn: Connection, rows: Sequence[tuple[str, int, bytes]]) -> None:
    conn.exec_driver_sql(
        placeholders(
            conn,
            "INSERT INTO ledger_request_keys (request_key, idx, request_hash) VALUES (?, ?, ?)",
        ),
        rows,
    )


# --- the leaf-hash index ------------------------------------------------------------


def leaf_index_upto(conn: Connection) -> int:
    """Entries below this index are in the leaf-hash index."""
    return int(
        conn.exec_driver_sql(
            f"SELECT upto FROM ledger_progress WHERE name = '{LEAF_INDEX}'"
        ).scalar_one()
    )


def insert_leaf_prefixes(conn: Connection, rows: Sequence[tuple[int, int]], upto: int) -> None:
    """(prefix, index) rows, and the index's new high-water mark, in one go."""
    conn.exec_driver_sql(
        placeholders(conn, "INSERT INTO ledger_leaf_index (prefix, idx) VALUES (?, ?)"), rows
    )
    conn.exec_driver_sql(
        placeholders(conn, f"UPDATE ledger_progress SET upto = ? WHERE name = '{LEAF_INDEX}'"),
        (upto,),
    )


def indices_with_prefix(conn: Connection, prefix: int) -> list[int]:
    rows = conn.exec_driver_sql(
        placeholders(conn, "SELECT idx FROM ledger_leaf_index WHERE prefix = ? ORDER BY idx"),
        (prefix,),
    )
    return [int(i) for i in rows.scalars().all()]
