"""The codes' serials in a ledger export: the log holds only each batch's root.

An export carries, after the log, every serial whose batch the exported log issued
(``codes.issued`` below the exported size). An import takes them after the log and its
projections are restored, and stores a batch's serials only if they are exactly the
sorted set whose RFC 9162 root the restored batch's entry records, at their positions:
a serial added, dropped, altered or moved refuses the whole import. Scan counts are
operational, not part of a backup.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, select

from ledger.audit.codes import serials_root
from ledger.errors import InvalidInput
from ledger.records.tables import LIVE
from qr.tables import qr_codes

TAG = "code"
FIELDS = ("serial", "gtin", "batch", "serials_root", "position")
STORE_CHUNK = 10_000


class CodesBackupError(InvalidInput):
    """A serial in an export that the restored log does not commit to."""


def _issued(size: int) -> Any:
    batches = LIVE["proj_code_batches"]
    return (
        select(
            qr_codes.c.serial,
            qr_codes.c.gtin,
            qr_codes.c.batch,
            qr_codes.c.serials_root,
            qr_codes.c.position,
        )
        .join(
            batches,
            (batches.c.serials_root == qr_codes.c.serials_root)
            & (batches.c.gtin == qr_codes.c.gtin)
            & (batches.c.batch == qr_codes.c.batch),
        )
        .where(batches.c.entry < size)
    )


class CodesAttachment:
    """The ``code`` rows of an export (ledger.store.export.Attachment)."""

    tag = TAG

    def __init__(self) -> None:
        self._root: str | None = None
        self._rows: list[dict[str, Any]] = []
        self._stored: list[dict[str, Any]] = []
        self._seen_roots: set[str] = set()

    def count(self, conn: Connection, size: int) -> int:
        counted = select(func.count()).select_from(_issued(size).subquery())
        return int(conn.execute(counted).scalar_one())

    def rows(self, conn: Connection, size: int) -> Iterator[dict[str, Any]]:
        query = _issued(size).order_by(qr_codes.c.serials_root, qr_codes.c.position)
        for row in conn.execute(query):
            yield dict(zip(FIELDS, row, strict=True))

    def add(self, conn: Connection, row: Any) -> None:
        checked = _checked_row(row)
        if checked["serials_root"] != self._root:
            self._close_batch(conn)
            if checked["serials_root"] in self._seen_roots:
                raise CodesBackupError(
                    f"the serials of root {checked['serials_root'][:16]}… are not together"
                )
            self._root = checked["serials_root"]
        self._rows.append(checked)

    def finish(self, conn: Connection) -> None:
        self._close_batch(conn)
        self._flush(conn)

    def _close_batch(self, conn: Connection) -> None:
        if self._root is None:
            return
        root, rows = self._root, self._rows
        self._seen_roots.add(root)
        self._root, self._rows = None, []
        first = rows[0]
        batches = LIVE["proj_code_batches"]
        issued_count = conn.execute(
            select(batches.c.count).where(
                batches.c.serials_root == root,
                batches.c.gtin == first["gtin"],
                batches.c.batch == first["batch"],
            )
        ).scalar()
        if issued_count is None:
            raise CodesBackupError(
                f"no codes.issued of batch {first['gtin']}/{first['batch']} in the restored "
                f"log has root {root[:16]}…"
            )
        serials = [r["serial"] for r in rows]
        if [r["position"] for r in rows] != list(range(len(rows))) or serials != sorted(serials):
            raise CodesBackupError(f"the serials of root {root[:16]}… are not in sorted order")
        if any((r["gtin"], r["batch"]) != (first["gtin"], first["batch"]) for r in rows):
            raise CodesBackupError(f"the serials of root {root[:16]}… name two batches")
        if len(rows) != issued_count or base64.b64encode(serials_root(serials)).decode() != root:
            raise CodesBackupError(
                f"the {len(rows):,} serials of batch {first['gtin']}/{first['batch']} are not "
                f"the {issued_count:,} its entry commits to (root {root[:16]}…)"
            )
        self._stored += rows
        if len(self._stored) >= STORE_CHUNK:
            self._flush(conn)

    def _flush(self, conn: Connection) -> None:
        if self._stored:
            conn.execute(qr_codes.insert(), self._stored)
            self._stored = []


def _checked_row(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict) or set(row) != set(FIELDS):
        raise CodesBackupError(f"a code row has the fields {', '.join(FIELDS)}")
    if not all(isinstance(row[f], str) and row[f] for f in FIELDS[:4]):
        raise CodesBackupError("serial, gtin, batch and serials_root must be non-empty strings")
    if not isinstance(row["position"], int) or row["position"] < 0:
        raise CodesBackupError("position must be a non-negative integer")
    return row
