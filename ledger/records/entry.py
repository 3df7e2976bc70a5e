"""Turning a record kind and payload into a ledger entry, validated on the way in."""

from __future__ import annotations

from typing import Any

from ledger.records.kinds import EntryRedacted, parse_record, record_date
from ledger.store.entries import NewEntry
from ledger.tlog.envelope import check_time, now_time


def record_entry(
    kind: str, payload: Any, actor: str, time: str | None = None, request_key: str | None = None
) -> NewEntry:
    """Validate ``payload`` as a ``kind`` record and wrap it for the ledger.

    Raises RecordError naming the field when the payload is refused. Dates may
    not lie after the record's own day (in China); ``time`` defaults to now.
    """
    if time is not None:
        check_time(time)
    parsed = parse_record(kind, payload, today=record_date(time or now_time()))
    redacts = parsed.record.index if isinstance(parsed.record, EntryRedacted) else None
    return NewEntry(
        kind,
        parsed.subject,
        parsed.payload,
        actor,
        time=time,
        redacts=redacts,
        record=parsed.record,
        request_key=request_key,
    )
