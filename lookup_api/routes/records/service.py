"""Writing records: who may write what, and turning a request into a committed entry."""

from __future__ import annotations

from typing import Any

from ledger.records.entry import record_entry
from ledger.records.handlers import ENTERPRISE_KINDS, PRODUCT_OWNER_KINDS
from ledger.records.kinds import RecordError
from ledger.store.log import EntryRejected, NewEntry
from ledger.store.service import Receipt
from lookup_api.auth import ApiKey
from lookup_api.problems import Problem
from lookup_api.wiring import Services

MAX_IDEMPOTENCY_KEY = 200


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, type_="/problems/forbidden")


def invalid_record(exc: RecordError, status: int = 400) -> Problem:
    field = exc.field or "payload"
    return Problem(
        status,
        "Invalid record" if status == 400 else "Record refused",
        str(exc),
        type_="/problems/invalid-record" if status == 400 else "/problems/record-refused",
        errors=[{"field": field, "message": exc.reason}],
    )


def _owner_of(services: Services, gtin: str) -> str | None:
    q = "?" if services.engine.dialect.name == "sqlite" else "%s"
    with services.engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT owner_uscc FROM proj_products WHERE gtin = {q}", (gtin,)
        ).first()
    return None if row is None else str(row[0])


def authorise(services: Services, key: ApiKey, entry: NewEntry) -> None:
    """Officers write anything; an enterprise only its own records of a few kinds."""
    if key.role == "officer":
        return
    if key.role != "enterprise":
        raise forbidden(f"a {key.role} key cannot write records")
    if entry.kind not in ENTERPRISE_KINDS:
        raise forbidden(f"an enterprise key cannot record {entry.kind}")
    record: Any = entry.record
    own = key.uscc
    for field in ("owner_uscc", "declarant_uscc", "uscc"):
        value = getattr(record, field, None)
        if value is not None and value != own:
            raise forbidden(f"{field}: an enterprise key for {own} cannot write for {value}")
    if entry.kind in PRODUCT_OWNER_KINDS:
        owner = _owner_of(services, record.gtin)
        if owner is not None and owner != own:
            raise forbidden(f"gtin: product {record.gtin} belongs to {owner}, not to {own}")


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


async def submit(
    services: Services, key: ApiKey, kind: str, payload: Any, idempotency_key: str | None
) -> tuple[NewEntry, Receipt]:
    entry = build_entry(key, kind, payload, idempotency_key)
    authorise(services, key, entry)
    try:
        # A repeated request names the same kind and payload, hence the same subject.
        return entry, await services.appender.append_async(entry)
    except EntryRejected as exc:
        reason = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
        raise invalid_record(RecordError(reason, exc.field), status=422) from exc
