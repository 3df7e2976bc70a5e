"""``credtrace import FILE.jsonl``: stream records into the ledger, validated, in batches.

Each line is ``{"kind": ..., "payload": {...}[, "time": "...Z"]}``. Every batch is
one transaction with its own checkpoint. A refused line (bad JSON, a schema
error, a broken rule) is reported with its line number and reason; with
``strict`` a batch holding any refused line is not written at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ledger.envelope import EnvelopeError
from ledger.kinds import RecordError
from ledger.log import Ledger, NewEntry
from ledger.records import record_entry

DEFAULT_BATCH = 10_000
KEPT_EXAMPLES = 20


@dataclass
class Rejection:
    line: int
    field: str | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    rejected: int = 0
    batches: int = 0
    skipped_batches: int = 0  # strict mode: batches not written because of a refused line
    first_index: int | None = None
    last_index: int | None = None
    examples: list[Rejection] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "imported": self.imported,
            "rejected": self.rejected,
            "batches": self.batches,
            "skipped_batches": self.skipped_batches,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "examples": [r.as_json() for r in self.examples],
        }


def _entries(
    source: IO[str],
    actor: str,
    reject: Callable[[Rejection], None],
    report: ImportReport,
    on_bytes: Callable[[int], object] | None,
) -> Iterator[tuple[int, NewEntry]]:
    for line_no, line in enumerate(source, start=1):
        if on_bytes:
            on_bytes(len(line.encode("utf-8")))
        if not line.strip():
            continue
        report.lines += 1
        try:
            item = json.loads(line)
        except ValueError as exc:
            reject(Rejection(line_no, None, f"not JSON: {exc}"))
            continue
        if not isinstance(item, dict):
            reject(Rejection(line_no, None, "a line must be a JSON object"))
            continue
        unknown = sorted(set(item) - {"kind", "payload", "time"})
        if unknown:
            reject(
                Rejection(
                    line_no, unknown[0], f"unknown key {unknown[0]!r}; use kind, payload, time"
                )
            )
            continue
        kind, payload, time = item.get("kind"), item.get("payload"), item.get("time")
        if not isinstance(kind, str):
            reject(Rejection(line_no, "kind", "kind must be a string"))
            continue
        if not isinstance(payload, dict):
            reject(Rejection(line_no, "payload", "payload must be a JSON object"))
            continue
        if time is not None and not isinstance(time, str):
            reject(
                Rejection(line_no, "time", "time must be a string like 2026-11-22T10:00:00.000Z")
            )
            continue
        try:
            yield line_no, record_entry(kind, payload, actor, time)
        except RecordError as exc:
            reject(Rejection(line_no, exc.field, exc.reason))
        except EnvelopeError as exc:
            reject(Rejection(line_no, "time", str(exc)))


def import_records(
    ledger: Ledger,
    source: IO[str],
    *,
    actor: str = "system:import",
    batch_size: int = DEFAULT_BATCH,
    strict: bool = False,
    report_to: IO[str] | None = None,
    on_bytes: Callable[[int], object] | None = None,
) -> ImportReport:
    report = ImportReport()

    def reject(rejection: Rejection) -> None:
        report.rejected += 1
        if len(report.examples) < KEPT_EXAMPLES:
            report.examples.append(rejection)
        if report_to is not None:
            report_to.write(json.dumps(rejection.as_json(), ensure_ascii=False) + "\n")

    pending: list[tuple[int, NewEntry]] = []
    pending_rejections = 0

    def commit() -> None:
        nonlocal pending_rejections
        if not pending:
            return
        result = (
            ledger.append(
                [entry for _, entry in pending],
                index_leaves=False,
                all_or_nothing=strict and pending_rejections == 0,
            )
            if not (strict and pending_rejections)
            else None
        )
        if result is None:  # strict: a line of this batch was already refused
            report.skipped_batches += 1
        else:
            for position, why in sorted(result.rejected.items()):
                reason = str(why).removeprefix(f"{why.field}: ") if why.field else str(why)
                reject(Rejection(pending[position][0], why.field, reason))
            if result.leaf_hashes:
                report.batches += 1
                report.imported += len(result.leaf_hashes)
                if report.first_index is None:
                    report.first_index = result.first_index
                report.last_index = result.first_index + len(result.leaf_hashes) - 1
            elif result.rejected:
                report.skipped_batches += 1
        pending.clear()
        pending_rejections = 0

    before = report.rejected
    for line_no, entry in _entries(source, actor, reject, report, on_bytes):
        pending_rejections += report.rejected - before
        before = report.rejected
        pending.append((line_no, entry))
        if len(pending) >= batch_size:
            commit()
    pending_rejections += report.rejected - before
    commit()
    ledger.catch_up_leaf_index()
    return report
