"""What the platform routes read: many filings at once, and the public feed of changes.

Each answer is read in one snapshot, with the size of the latest signed checkpoint in it,
so a platform knows the tree size its answer is true at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from credit.catalogue import Policy
from credit.disclosure import public_blacklist
from ledger.records.ids import IdentifierError, normalise_gtin, normalise_uscc
from ledger.records.kinds import BATCH_PATTERN
from ledger.store.engine import driver_connection
from ledger.store.log import Ledger
from ledger.store.sql import is_sqlite_dialect
from lookup_api.problems import quoted
from lookup_api.routes.ledger.disclosure import Shown, shown_entries

_BATCH = re.compile(BATCH_PATTERN)


@dataclass(frozen=True)
class Query:
    """One item as asked: the identifiers as given."""

    uscc: str
    gtin: str | None = None
    batch: str | None = None


@dataclass
class Finding:
    """What the ledger says about one item (None: not asked, or not answerable)."""

    uscc: str
    gtin: str | None
    batch: str | None
    error_field: str | None = None
    error: str | None = None
    filed: bool = False
    status: str | None = None  # active, revoked
    grade: str | None = None
    blacklist: str | None = None  # none, noticed, listed
    blacklisted: bool = False
    product_filed: bool | None = None
    product_status: str | None = None
    product_owner: str | None = None
    batch_declared: bool | None = None
    active_recall: bool | None = None
    recall_entries: list[int] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    uscc: str
    gtin: str | None
    batch: str | None


class ItemError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def check_item(query: Query) -> Checked:
    """The item's identifiers, normalised; ItemError names the first malformed one."""
    try:
        uscc = normalise_uscc(query.uscc)
    except IdentifierError as exc:
        raise ItemError("uscc", f"uscc {quoted(query.uscc)} is not valid: {exc}") from exc
    gtin = None
    if query.gtin is not None:
        try:
            gtin = normalise_gtin(query.gtin)
        except IdentifierError as exc:
            raise ItemError("gtin", f"gtin {quoted(query.gtin)} is not valid: {exc}") from exc
    if query.batch is not None:
        if gtin is None:
            raise ItemError("batch", "a batch is asked about with the gtin of its product")
        if not _BATCH.match(query.batch):
            raise ItemError(
                "batch",
                f"batch {quoted(query.batch)} is not valid: 1 to 20 characters of "
                "A-Z, a-z, 0-9, '.', '_' and '-'",
            )
    return Checked(uscc, gtin, query.batch)


def _json_list(value: Any) -> list[str]:
    loaded = json.loads(value) if value else []
    return [str(v) for v in loaded] if isinstance(loaded, list) else []


# Literal SQL, four statements for the whole request, read as plain tuples (the Core
# layer and row mappings cost more than the reads themselves).
_ENTERPRISES = (
    "SELECT uscc, status, grade, blacklist, filed_entry, graded_entry, blacklist_entry "
    "FROM proj_enterprises WHERE uscc {}"
)
_PRODUCTS = "SELECT gtin, status, owner_uscc, filed_entry FROM proj_products WHERE gtin {}"
_RECALLS = "SELECT gtin, entry, batches FROM proj_recalls WHERE gtin {} AND closed_entry IS NULL"
# The pairs asked, joined on the primary key: on SQLite as a VALUES list (it scans the
# table for a row-value IN), on PostgreSQL as two arrays (a fourth of the time of a
# VALUES list of 200 parameters, and ten times less than a long OR of pairs).
_BATCHES_SQLITE = (
    "SELECT b.gtin, b.batch, b.declared_entry FROM (VALUES {}) AS asked "
    "JOIN proj_batches b ON b.gtin = asked.column1 AND b.batch = asked.column2"
)
_BATCHES_POSTGRES = (
    "SELECT b.gtin, b.batch, b.declared_entry "
    "FROM unnest(%s::text[], %s::text[]) AS asked(gtin, batch) "
    "JOIN proj_batches b ON b.gtin = asked.gtin AND b.batch = asked.batch"
)


Statement = tuple[str, tuple[Any, ...]]


def _among(conn: Connection, sql: str, values: Sequence[str]) -> Statement:
    """``sql`` with ``{}`` replaced by "is one of ``values``": ``IN (?, …)`` on SQLite,
    ``= ANY(%s)`` with one array on PostgreSQL (half the time of a long IN list)."""
    if is_sqlite_dialect(conn.dialect.name):
        return sql.format("IN (" + ", ".join(["?"] * len(values)) + ")"), tuple(values)
    return sql.format("= ANY(%s)"), (list(values),)


def _batches_asked(conn: Connection, asked: Sequence[tuple[str, str]]) -> Statement:
    if is_sqlite_dialect(conn.dialect.name):
        text = _BATCHES_SQLITE.format(", ".join(["(?, ?)"] * len(asked)))
        return text, tuple(v for pair in asked for v in pair)
    return _BATCHES_POSTGRES, ([g for g, _ in asked], [b for _, b in asked])


def _read_all(conn: Connection, statements: Sequence[Statement | None]) -> list[list[Any]]:
    """The rows of each statement ([] for None). PostgreSQL gets them all at once in one
    pipeline, with the transaction's BEGIN: one round trip for the request, where one a
    statement would each wait for the server (and, on a busy host, for the scheduler)."""
    if is_sqlite_dialect(conn.dialect.name):
        return [[] if s is None else list(conn.exec_driver_sql(*s).all()) for s in statements]
    driver = driver_connection(conn)
    wanted = [s for s in statements if s is not None]
    with driver.pipeline():
        cursors = [driver.cursor() for _ in wanted]
        for cursor, (sql, params) in zip(cursors, wanted, strict=True):
            cursor.execute(sql, params)
    answers = iter([cursor.fetchall() for cursor in cursors])
    return [[] if s is None else list(next(answers)) for s in statements]


def _open_recalls(rows: list[Any]) -> dict[str, list[tuple[int, list[str]]]]:
    found: dict[str, list[tuple[int, list[str]]]] = {}
    # Ordered here, so that the statement stays a plain lookup by gtin.
    for gtin, entry, batches in sorted(rows, key=lambda r: r[1]):
        found.setdefault(str(gtin), []).append((int(entry), _json_list(batches)))
    return found


def _covers(batches: list[str], batch: str | None) -> bool:
    return not batches or batch is None or batch in batches


def find(conn: Connection, queries: Sequence[Query], *, notices: bool = False) -> list[Finding]:
    """One finding per query, in order; four reads for the whole request (one round trip
    on PostgreSQL). A blacklist notice is told only with ``notices`` (to an officer): to
    anyone else a noticed enterprise stands as the public sees it (``public_blacklist``),
    the notice's entry left out."""
    checked: list[Checked | ItemError] = []
    for query in queries:
        try:
            checked.append(check_item(query))
        except ItemError as exc:
            checked.append(exc)
    good = [c for c in checked if isinstance(c, Checked)]
    usccs = sorted({c.uscc for c in good})
    gtins = sorted({c.gtin for c in good if c.gtin is not None})
    pairs = sorted({(c.gtin, c.batch) for c in good if c.gtin and c.batch})
    enterprise_rows, product_rows, recall_rows, batch_rows = _read_all(
        conn,
        [
            _among(conn, _ENTERPRISES, usccs) if usccs else None,
            _among(conn, _PRODUCTS, gtins) if gtins else None,
            _among(conn, _RECALLS, gtins) if gtins else None,
            _batches_asked(conn, pairs) if pairs else None,
        ],
    )
    enterprises = {str(r[0]): r for r in enterprise_rows}
    products = {str(r[0]): r for r in product_rows}
    recalls = _open_recalls(recall_rows)
    batches = {(str(g), str(b)): None if e is None else int(e) for g, b, e in batch_rows}
    findings = []
    for query, item in zip(queries, checked, strict=True):
        if isinstance(item, ItemError):
            findings.append(
                Finding(
                    query.uscc, query.gtin, query.batch, error_field=item.field, error=str(item)
                )
            )
            continue
        findings.append(_finding(item, enterprises, products, recalls, batches, notices=notices))
    return findings


def _finding(
    item: Checked,
    enterprises: dict[str, Any],
    products: dict[str, Any],
    recalls: dict[str, list[tuple[int, list[str]]]],
    batches: dict[tuple[str, str], int | None],
    *,
    notices: bool,
) -> Finding:
    found = Finding(item.uscc, item.gtin, item.batch)
    row = enterprises.get(item.uscc)
    if row is not None:
        _, status, grade, blacklist, filed_entry, graded_entry, blacklist_entry = row
        standing = str(blacklist) if notices else public_blacklist(str(blacklist))
        found.filed = True
        found.status = str(status)
        found.grade = None if grade is None else str(grade)
        found.blacklist = standing
        found.blacklisted = standing == "listed"
        shown = blacklist_entry if standing == blacklist else None  # not a hidden notice's
        found.entries += [int(e) for e in (filed_entry, graded_entry, shown) if e is not None]
    if item.gtin is not None:
        product = products.get(item.gtin)
        found.product_filed = product is not None
        if product is not None:
            _, status, owner, filed_entry = product
            found.product_status = str(status)
            found.product_owner = None if owner is None else str(owner)
            if filed_entry is not None:
                found.entries.append(int(filed_entry))
        found.recall_entries = [
            entry for entry, covered in recalls.get(item.gtin, []) if _covers(covered, item.batch)
        ]
        found.active_recall = bool(found.recall_entries)
        found.entries += found.recall_entries
    if item.gtin is not None and item.batch is not None:
        declared = batches.get((item.gtin, item.batch))
        found.batch_declared = declared is not None
        if declared is not None:
            found.entries.append(declared)
    found.entries = sorted(set(found.entries))
    return found


def tree_size(ledger: Ledger, conn: Connection) -> int:
    checkpoint = ledger.latest_checkpoint(conn)
    return checkpoint.size if checkpoint else 0


@dataclass(frozen=True)
class FeedPage:
    after: int | None
    tree_size: int
    changes: list[Shown]

    @property
    def next_after(self) -> int | None:
        """The cursor for the next page: the last index shown (or the one given)."""
        return self.changes[-1].entry.index if self.changes else self.after


def feed_version(after: int | None, limit: int, size: int, day: dt.date, policy: Policy) -> str:
    """A feed page's ETag, known before the page is read.

    A page is a pure function of its range, the log at ``size`` (entries never change but
    by a redaction, which is itself an entry, so the size moves), the day (a disclosure
    window closes) and the policy; the feed shows everyone the same public view.
    """
    key = f"{after}|{limit}|{size}|{day.isoformat()}|{policy.id}|{policy.version}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def feed_page(
    ledger: Ledger,
    conn: Connection,
    after: int | None,
    limit: int,
    *,
    size: int,
    day: dt.date,
    policy: Policy,
) -> FeedPage:
    """The entries after ``after`` (all from the first when None) up to ``size`` (the
    latest checkpoint's), at most ``limit``, as the public sees them on ``day``."""
    start = 0 if after is None else after + 1
    end = min(size, start + limit)
    stored: Iterable[Any] = ledger.entries(start, end, conn) if start < end else []
    return FeedPage(after, size, shown_entries(conn, list(stored), None, day, policy))
