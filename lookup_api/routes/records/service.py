"""Writing records: who may write what, and turning a request into a committed entry."""

from __future__ import annotations

from typing import Any

from ledger.errors import EntryRejected
from ledger.records.entry import record_entry
from ledger.records.handlers import ENTERPRISE_KINDS, PRODUCT_OWNER_KINDS, SERVICE_KINDS
from ledger.records.kinds import RecordError
from ledger.store.entries import NewEntry
from ledger.store.service import Receipt
from ledger.store.sql import placeholders
from lookup_api.auth import ApiKey
from lookup_api.problems import Problem
from lookup_api.wiring import Services

MAX_IDEMPOTENCY_KEY = 200


def forbidden(detail: str, field: str | None = None) -> Problem:
    return Problem(
        403,
        "Forbidden",
        detail,
        type_="/problems/forbidden",
        errors=[{"field": field, "message": detail}] if field else None,
    )


def invalid_record(exc: RecordError, status: int = 400) -> Problem:
    field = exc.field or "payload"
    return Problem(
        status,
        "Invalid record" if status == 400 else "Record refused",
        str(exc),
        type_="/problems/invalid-record" if status == 400 else "/problems/record-refused",
        errors=[{"field": field, "message": exc.reason}],
    )


def _one(services: Services, sql: str, value: str) -> str | None:
    with services.engine.connect() as conn:
        row = conn.exec_driver_sql(placeholders(conn, sql), (value,)).first()
    return None if row is None else str(row[0])


def _owner_of(services: Services, gtin: str) -> str | None:
    return _one(services, "SELECT owner_uscc FROM proj_products WHERE gtin = ?", gtin)


def _status_of(services: Services, uscc: str) -> str | None:
    return _one(services, "SELECT status FROM proj_enterprises WHERE uscc = ?", uscc)


def authorise(services: Services, key: ApiKey, entry: NewEntry) -> None:
    """Officers write anything; an enterprise only its own records of a few kinds.

    The rules (README, "Who may write what"), each refusal a 403 naming its rule:

    - the kind's handler says who besides officers may write it (``Handler.writer``);
    - every ``*uscc`` field of the record is the key's own enterprise;
    - that enterprise is filed and not revoked, now;
    - for a ``product owner`` kind, the product is filed and its filing names the key's
      enterprise as ``owner_uscc``. An importer owns the foreign-made products it filed;
      a batch of a product someone else filed is declared by its owner or an officer.

    The owner of a filed product never changes (a product is filed once and a revoked
    one stays filed), so reading it before the append transaction cannot race with it.
    """
    if key.role == "officer":
        return
    if key.role != "enterprise":
        raise forbidden(f"a {key.role} key cannot write records", "kind")
    if entry.kind not in ENTERPRISE_KINDS:
        raise forbidden(f"an enterprise key cannot record {entry.kind}: officers only", "kind")
    record: Any = entry.record
    own = key.uscc
    for field in record.__struct_fields__:
        value = getattr(record, field, None)
        if field.endswith("uscc") and value is not None and value != own:
            raise forbidden(
                f"{field}: an enterprise key for {own} writes only its own records, "
                f"not for {value}",
                field,
            )
    status = None if own is None else _status_of(services, own)
    if status != "active":
        standing = "not filed" if status is None else status
        raise forbidden(f"uscc: enterprise {own} is {standing}: its key writes nothing", "uscc")
    if entry.kind in PRODUCT_OWNER_KINDS:
        owner = _owner_of(services, record.gtin)
        if owner is None:
            raise forbidden(
                f"gtin: product {record.gtin} is not filed: an enterprise writes {entry.kind} "
                "only for products it owns (filed with its owner_uscc)",
                "gtin",
            )
        if owner != own:
            raise forbidden(
                f"gtin: product {record.gtin} belongs to {owner}, not to {own}: "
                f"an enterprise writes {entry.kind} only for products it owns",
                "gtin",
            )


def build_entry(key: ApiKey, kind: str, payload: Any, idempotency_key: str | None) -> NewEntry:
    if idempotency_key is not None and (
        not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY or not idempotency_key.isprintable()
    ):
        raise Problem(
            400,
            "Bad request",
            "Idempotency-Key must be 1-200 printable characters",
            type_="/problems/bad-request",
            errors=[{"field": "Idempotency-Key", "message": "invalid"}],
        )
    request_key = None if idempotency_key is None else f"{key.key_id}:{idempotency_key}"
    try:
        return record_entry(kind, payload, key.actor, request_key=request_key)
    except RecordError as exc:
        raise invalid_record(exc) from exc


WRITTEN_BY = {  # who writes each of SERVICE_KINDS, for the refusal
    "credit.graded": "the credit engine (actor system:credit) whenever a grade changes",
    "codes.issued": "POST /v1/codes/batches, which stores the serials the root commits to",
    "draw.requested": "POST /v1/draws, which records the request before drawing",
    "draw.made": "POST /v1/draws, which draws from the checkpoint covering its request",
}


async def submit(
    services: Services, key: ApiKey, kind: str, payload: Any, idempotency_key: str | None
) -> tuple[NewEntry, Receipt]:
    entry = build_entry(key, kind, payload, idempotency_key)
    if entry.kind in SERVICE_KINDS:
        raise forbidden(
            f"nobody records {entry.kind} here: it is written by "
            f"{WRITTEN_BY.get(entry.kind, 'the service itself')}",
            "kind",
        )
    authorise(services, key, entry)
    try:
        # A repeated request names the same kind and payload, hence the same subject.
        return entry, await services.appender.append_async(entry)
    except EntryRejected as exc:
        reason = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
        raise invalid_record(RecordError(reason, exc.field), status=422) from exc
