"""What a code is (genuine, revoked, recalled, mistyped, not issued) and issuing batches."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from ledger.errors import EntryRejected
from ledger.records.kinds import RecordError
from ledger.store.entries import NewEntry
from ledger.store.sql import placeholders
from lookup_api.auth import ApiKey
from lookup_api.routes.records.service import authorise, forbidden, invalid_record
from lookup_api.wiring import Services
from qr.issuance import IssuedBatch, IssueRefused, issue_codes
from qr.lookup import IssuedCode, find_code, revocation_of
from qr.serials import MalformedSerial, MistypedSerial, parse_serial
from qr.signing import CodeKeyRing, code_key_name, load_code_keys, load_or_create_code_keys

GENUINE, REVOKED, NOT_ISSUED, MISTYPED = "genuine", "revoked", "not_issued", "mistyped"


@dataclass(frozen=True)
class CodeState:
    """What the ledger says of one serial under one batch."""

    serial: str  # as read (normalised when it parses)
    status: str  # genuine, revoked, not_issued, mistyped
    detail: str
    code: IssuedCode | None = None
    revoked_entry: int | None = None


def read_serial(text: str) -> tuple[str | None, CodeState | None]:
    """``text`` as issued serials are written, or what a text that is not one is."""
    try:
        return parse_serial(text), None
    except MistypedSerial as exc:
        return None, CodeState(text, MISTYPED, str(exc))
    except MalformedSerial as exc:
        return None, CodeState(text, NOT_ISSUED, f"not a serial this service issues: {exc}")


def judge_code(
    serial: str, gtin: str, batch: str | None, code: IssuedCode | None, revoked: int | None
) -> CodeState:
    """What a well-formed ``serial`` under ``gtin`` (and ``batch``, when the path names it)
    is, given its issued row and the entry that revoked it: the one rule for every reader."""
    if code is None:
        return CodeState(serial, NOT_ISSUED, f"no code {serial} was ever issued: it is not genuine")
    if code.gtin != gtin or (batch is not None and code.batch != batch):
        # A genuine serial copied onto another product or batch is a clone.
        return CodeState(
            serial, NOT_ISSUED, f"code {serial} was issued for another product or batch: a copy"
        )
    if revoked is not None:
        return CodeState(
            serial, REVOKED, f"code {serial} was revoked by entry {revoked}", code, revoked
        )
    return CodeState(serial, GENUINE, f"code {serial} was issued by entry {code.entry}", code)


def code_state(conn: Connection, gtin: str, batch: str | None, text: str) -> CodeState:
    """What ``text`` is as a serial of ``gtin`` (under ``batch``; any batch when None):
    serials are unique across the register (``qr_codes`` is keyed by serial alone)."""
    serial, refused = read_serial(text)
    if serial is None:
        assert refused is not None
        return refused
    code = find_code(conn, serial)
    revoked = None
    if code is not None and code.gtin == gtin and batch in (None, code.batch):
        revoked = revocation_of(conn, code.gtin, code.batch, serial)
    return judge_code(serial, gtin, batch, code, revoked)


def open_recalls(conn: Connection, gtin: str, batch: str | None) -> list[int]:
    """Open recalls of the product that cover ``batch`` (any, when batch is None)."""
    rows = conn.exec_driver_sql(
        placeholders(
            conn,
            "SELECT entry, batches FROM proj_recalls WHERE gtin = ? AND closed_entry IS NULL "
            "ORDER BY entry",
        ),
        (gtin,),
    )
    found = []
    for entry, batches in rows:
        listed = json.loads(batches)
        if batch is None or not listed or batch in listed:
            found.append(int(entry))
    return found


_keys_lock = threading.Lock()
_keys_cache: dict[Path, tuple[int, CodeKeyRing]] = {}


def code_keys(services: Services) -> CodeKeyRing:
    """The code-signing key ring, read again when the file changes (a rotation)."""
    path = services.settings.code_key_file
    name = code_key_name(services.settings.ledger.origin)
    with _keys_lock:
        if not path.exists():
            load_or_create_code_keys(path, name)
        stamp = path.stat().st_mtime_ns
        cached = _keys_cache.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, load_code_keys(path, name))
            _keys_cache[path] = cached
        return cached[1]


def issue_for(services: Services, key: ApiKey, gtin: str, batch: str, count: int) -> IssuedBatch:
    """Issue codes as ``key``: an officer for any declared batch, an enterprise for its own."""
    if key.role not in ("officer", "enterprise"):
        raise forbidden(f"a {key.role} key cannot issue codes", "gtin")

    def append(entry: NewEntry) -> int:
        return services.appender.append(entry).index

    def check(entry: NewEntry) -> None:
        authorise(services, key, entry)

    try:
        return issue_codes(
            services.engine,
            append,
            gtin=gtin,
            batch=batch,
            count=count,
            key_id=code_keys(services).key_id,
            actor=key.actor,
            authorise=check,
        )
    except IssueRefused as exc:
        raise invalid_record(RecordError(str(exc), exc.field), status=422) from exc
    except EntryRejected as exc:
        reason = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
        raise invalid_record(RecordError(reason, exc.field), status=422) from exc
