"""Issuing a declared batch's codes: serials stored first, then one ``codes.issued`` entry.

The entry is the commit point. Serials are written (in their own transaction) before the
entry is appended, keyed by the ``serials_root`` the entry will carry; a serial counts as
issued only once an entry with that root is in the batch's projection. An issuance that
is refused or interrupted between the two leaves rows that resolve as nothing, and a
refusal removes them at once.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError as DuplicateKey

from ledger.audit.codes import serials_root
from ledger.errors import EntryRejected, InvalidInput
from ledger.records.entry import record_entry
from ledger.records.kinds import RecordError
from ledger.store.engine import driver_connection, read_transaction
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.store.sql import is_sqlite_dialect, placeholders
from qr.links import code_url
from qr.serials import new_serials, sorted_serials
from qr.signing import CodeKeyRing, sign_url

MAX_CODES_PER_ISSUE = 10_000_000  # what a codes.issued entry may count
INSERT_CHUNK = 20_000
_INSERT = (
    "INSERT INTO qr_codes (serial, gtin, batch, serials_root, position) VALUES (?, ?, ?, ?, ?)"
)
_COPY = "COPY qr_codes (serial, gtin, batch, serials_root, position) FROM STDIN"
_ATTEMPTS = 3  # a new serial colliding with a stored one is a 2^-60-per-pair event


class IssueRefused(InvalidInput):
    """The codes cannot be issued; ``field`` names the request field concerned."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class SerialCollision(Exception):
    """A newly drawn serial is one already stored: the issuance draws them again."""


Append = Callable[[NewEntry], int]


def ledger_appender(ledger: Ledger) -> Append:
    """Append one entry straight to ``ledger`` (the CLI's way; the service queues it):
    its index, or the refusal raised."""

    def append(entry: NewEntry) -> int:
        result = ledger.append([entry])
        if result.rejected:
            raise result.rejected[0]
        index = result.indices[0]
        assert index is not None
        return index

    return append


"""Appends an entry and returns its index (raises EntryRejected when it is refused)."""


@dataclass(frozen=True)
class IssuedBatch:
    gtin: str
    batch: str
    serials: list[str]  # sorted: a serial's position is its leaf index under serials_root
    serials_root: str  # base64, as the entry records it
    key_id: str
    entry: int


@dataclass(frozen=True)
class CodeLabel:
    """One line of a printer's manifest."""

    serial: str
    url: str


def batch_owner(conn: Connection, gtin: str, batch: str) -> str | None:
    """The owner of a declared batch's product, or None when the batch is not declared."""
    row = conn.exec_driver_sql(
        placeholders(
            conn,
            "SELECT p.owner_uscc FROM proj_batches b JOIN proj_products p ON p.gtin = b.gtin "
            "WHERE b.gtin = ? AND b.batch = ? AND b.declared_entry IS NOT NULL",
        ),
        (gtin, batch),
    ).first()
    return None if row is None else str(row[0])


def _chunks(
    rows: Sequence[tuple[str, str, str, str, int]],
) -> Iterator[list[tuple[str, str, str, str, int]]]:
    for start in range(0, len(rows), INSERT_CHUNK):
        yield list(rows[start : start + INSERT_CHUNK])


def store_serials(
    engine: Engine,
    *,
    gtin: str,
    batch: str,
    serials: Sequence[str],
    root: str,
    on_stored: Callable[[int], object] | None = None,
) -> None:
    """Write a batch's sorted serials in one transaction (all of them or none): through
    the driver, executemany on SQLite and COPY on PostgreSQL."""
    rows = [(serial, gtin, batch, root, position) for position, serial in enumerate(serials)]
    try:
        with engine.begin() as conn:
            raw = driver_connection(conn)
            if is_sqlite_dialect(conn.dialect.name):
                for chunk in _chunks(rows):
                    raw.executemany(_INSERT, chunk)
                    if on_stored is not None:
                        on_stored(len(chunk))
                return
            with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
                for chunk in _chunks(rows):
                    for row in chunk:
                        copy.write_row(row)
                    if on_stored is not None:
                        on_stored(len(chunk))
    except (sqlite3.IntegrityError, DuplicateKey) as exc:
        raise SerialCollision("a new serial is already stored") from exc
    except Exception as exc:
        if type(exc).__name__ == "UniqueViolation":  # psycopg's, without importing it here
            raise SerialCollision("a new serial is already stored") from exc
        raise


def discard_serials(engine: Engine, root: str) -> None:
    """Remove the serials of an issuance whose entry was refused."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            placeholders(conn, "DELETE FROM qr_codes WHERE serials_root = ?"), (root,)
        )


def issue_entry(
    gtin: str, batch: str, count: int, *, root: str, key_id: str, actor: str
) -> NewEntry:
    payload = {
        "gtin": gtin,
        "batch": batch,
        "count": count,
        "serials_root": root,
        "key_id": key_id,
    }
    return record_entry("codes.issued", payload, actor)


def check_request(engine: Engine, gtin: str, batch: str, count: int) -> None:
    """Refuse, before any work, a count out of range or a batch that is not declared."""
    if not 1 <= count <= MAX_CODES_PER_ISSUE:
        raise IssueRefused(f"count must be 1 to {MAX_CODES_PER_ISSUE:,}, got {count}", "count")
    with read_transaction(engine) as conn:
        if batch_owner(conn, gtin, batch) is None:
            raise IssueRefused(
                f"batch {batch} of {gtin} is not declared: declare it (batch.declared) first",
                "batch",
            )


def issue_codes(
    engine: Engine,
    append: Append,
    *,
    gtin: str,
    batch: str,
    count: int,
    key_id: str,
    actor: str,
    authorise: Callable[[NewEntry], None] | None = None,
    on_stored: Callable[[int], object] | None = None,
) -> IssuedBatch:
    """Issue ``count`` new codes for a declared batch: serials, then their entry.

    ``gtin`` is the stored GTIN-14. ``authorise`` sees the entry before anything is
    written and raises to refuse it (an enterprise key issues only for its own products).
    """
    check_request(engine, gtin, batch, count)
    for attempt in range(_ATTEMPTS):
        serials = sorted_serials(new_serials(count))
        root = base64.b64encode(serials_root(serials)).decode()
        try:
            entry = issue_entry(gtin, batch, count, root=root, key_id=key_id, actor=actor)
        except RecordError as exc:
            raise IssueRefused(str(exc), exc.field or "payload") from exc
        if authorise is not None:
            authorise(entry)
        try:
            store_serials(
                engine, gtin=gtin, batch=batch, serials=serials, root=root, on_stored=on_stored
            )
        except SerialCollision:
            if attempt + 1 == _ATTEMPTS:
                raise
            continue
        break
    try:
        index = append(entry)
    except EntryRejected:
        discard_serials(engine, root)
        raise
    return IssuedBatch(gtin, batch, serials, root, key_id, index)


def labels(
    public_url: str, gtin: str, batch: str, serials: Sequence[str], keys: CodeKeyRing | None
) -> list[CodeLabel]:
    """The URL printed for each serial, signed with the current code key when ``keys``."""
    out = []
    for serial in serials:
        url = code_url(public_url, gtin, batch, serial)
        if keys is not None:
            url = f"{url}?sig={sign_url(url, keys.current)}"
        out.append(CodeLabel(serial, url))
    return out
