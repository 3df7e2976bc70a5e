"""Reading codes: is a serial issued (one indexed lookup), revoked, and its proof.

A serial is issued when its row in ``qr_codes`` names a ``serials_root`` that an appended
``codes.issued`` entry of the same batch carries (``proj_code_batches``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.audit.codes import PROOF_FORMAT, serial_audit_path, serial_leaf_hashes
from ledger.errors import InvalidInput
from ledger.store.log import Ledger
from ledger.store.sql import placeholders

_ISSUED = (
    "SELECT c.serial, c.gtin, c.batch, c.serials_root, c.position, b.entry, b.count, b.key_id "
    "FROM qr_codes c JOIN proj_code_batches b "
    "ON b.serials_root = c.serials_root AND b.gtin = c.gtin AND b.batch = c.batch "
)
LOOKUP_CHUNK = 500


class ProofUnavailable(InvalidInput):
    """No proof can be given: the issuing entry's payload was redacted, or no checkpoint."""


@dataclass(frozen=True)
class IssuedCode:
    serial: str
    gtin: str
    batch: str
    serials_root: str
    position: int
    entry: int  # the codes.issued entry
    count: int  # codes in that issuance
    key_id: str


def issued_code(row: Sequence[Any]) -> IssuedCode:
    """An ``IssuedCode`` from the eight columns of ``_ISSUED``, in that order."""
    return IssuedCode(
        str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]),
        int(row[6]), str(row[7]),
    )  # fmt: skip


def find_code(conn: Connection, serial: str) -> IssuedCode | None:
    row = conn.exec_driver_sql(
        placeholders(conn, _ISSUED + "WHERE c.serial = ?"), (serial,)
    ).first()
    return None if row is None else issued_code(row)


def find_codes(conn: Connection, serials: Iterable[str]) -> dict[str, IssuedCode]:
    """The issued codes among ``serials``, a few hundred per query."""
    wanted = list(serials)
    found: dict[str, IssuedCode] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        sql = _ISSUED + f"WHERE c.serial IN ({', '.join('?' * len(chunk))})"
        for row in conn.exec_driver_sql(placeholders(conn, sql), tuple(chunk)):
            code = issued_code(row)
            found[code.serial] = code
    return found


def revocation_of(conn: Connection, gtin: str, batch: str, serial: str) -> int | None:
    """The entry that revoked this code (or its whole batch), if any."""
    rows = conn.exec_driver_sql(
        placeholders(
            conn,
            "SELECT entry, serials FROM proj_code_revocations WHERE gtin = ? AND batch = ? "
            "ORDER BY entry",
        ),
        (gtin, batch),
    )
    return revoking_entry(rows, serial)


def revoking_entry(rows: Iterable[Any], serial: str) -> int | None:
    """Of a batch's revocations ``(entry, serials as JSON)`` in entry order, the first that
    revokes ``serial`` (an empty list revokes the whole batch)."""
    for entry, serials in rows:
        listed = json.loads(serials)
        if not listed or serial in listed:
            return int(entry)
    return None


def batch_serials(conn: Connection, root: str, gtin: str, batch: str) -> list[str]:
    """The serials of one issuance of ``gtin``/``batch``, in their tree order. Read by the
    batch too: an entry naming another batch's root never reaches that batch's serials."""
    sql = (
        "SELECT serial FROM qr_codes WHERE serials_root = ? AND gtin = ? AND batch = ? "
        "ORDER BY position"
    )
    rows = conn.exec_driver_sql(placeholders(conn, sql), (root, gtin, batch))
    return [str(serial) for (serial,) in rows]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def code_proof(conn: Connection, ledger: Ledger, code: IssuedCode) -> dict[str, Any]:
    """The code's proof document (see ``ledger.audit.codes``) at the latest checkpoint."""
    serials = batch_serials(conn, code.serials_root, code.gtin, code.batch)
    path = serial_audit_path(serial_leaf_hashes(serials), code.position)
    stored = ledger.entry(code.entry, conn)
    if stored is None or stored.payload is None or stored.salt is None:
        raise ProofUnavailable(f"the payload of entry {code.entry}, which issued it, is redacted")
    checkpoint = ledger.latest_checkpoint(conn)
    if checkpoint is None or checkpoint.size <= code.entry:
        raise ProofUnavailable("no signed checkpoint covers the issuing entry yet")
    audit_path = ledger.inclusion_proof(code.entry, checkpoint.size, conn)
    return {
        "format": PROOF_FORMAT,
        "serial": code.serial,
        "gtin": code.gtin,
        "batch": code.batch,
        "serials_root": code.serials_root,
        "serial_index": code.position,
        "serials_count": len(serials),
        "serial_path": [_b64(h) for h in path],
        "entry": {
            "index": code.entry,
            "leaf_input": _b64(stored.leaf_input),
            "salt": _b64(stored.salt),
            "payload": _b64(stored.payload),
        },
        "inclusion": {
            "leaf_index": code.entry,
            "tree_size": checkpoint.size,
            "audit_path": [_b64(h) for h in audit_path],
        },
        "checkpoint": checkpoint.note,
    }
