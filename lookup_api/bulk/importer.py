"""``credtrace import FILE.jsonl``: stream records into the ledger, validated, in batches.

Each line is ``{"kind": ..., "payload": {...}[, "time": "...Z"]}``. Every batch is
one transaction with its own checkpoint. A refused line (bad JSON, a schema
error, a broken rule) is reported with its line number and reason; with
``strict`` a batch holding any refused line is not written at all. Parsing and
validation run in a second process while this one sequences (see pipeline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ledger.store.entries import NewEntry
from ledger.tlog.envelope import parse_envelope
from lookup_api.bulk import BULK_BATCH
from lookup_api.bulk.pipeline import (
    CHUNK,
    MAX_LINE,
    Chunk,
    Pipeline,
    TimeRange,
    batched,
    collector_paused,
    parse_line,
    quoted_start,
)
from lookup_api.operators import operator_actor

if TYPE_CHECKING:  # this module is also the parse worker's, which needs no SQL
    from ledger.store.log import Ledger

KEPT_EXAMPLES = 20


@dataclass
class Rejection:
    line: int
    field: str | None
    reason: str
    quote: str | None = None  # the start of the line, quoted, for a refusal found reading it

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason, "quote": self.quote}


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    graded: int = 0  # credit.graded entries the regrading added to the batches
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
            "graded": self.graded,
            "rejected": self.rejected,
            "batches": self.batches,
            "skipped_batches": self.skipped_batches,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "examples": [r.as_json() for r in self.examples],
        }


class ImportRefused(ValueError):
    """The import as a whole is refused before any line is read."""


def file_chunks(path: str, actor: str, times: TimeRange | None = None) -> Iterator[Chunk]:
    """The producer of an import: the file's lines, parsed and validated, in chunks."""
    chunk = Chunk([], [])
    with open(path, "rb") as handle:
        for line_no, line in enumerate(iter(lambda: handle.readline(MAX_LINE + 1), b""), start=1):
            chunk.bytes_read += len(line)
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                chunk.bytes_read += _skip_rest_of_line(handle)
                reason = f"the line is longer than {MAX_LINE:,} bytes"
                chunk.refusals.append((line_no, None, reason, quoted_start(line)))
            elif line.strip():
                parse_line(line_no, line, actor, chunk, times)
            if len(chunk.entries) + len(chunk.refusals) >= CHUNK:
                yield chunk
                chunk = Chunk([], [])
    yield chunk


def _last_time(ledger: Ledger) -> str | None:
    size = ledger.size()
    last = ledger.entry(size - 1) if size else None
    return None if last is None else parse_envelope(last.leaf_input).time


def _skip_rest_of_line(handle: IO[bytes]) -> int:
    """Read past the end of an overlong line; returns how many bytes that took."""
    skipped = 0
    while True:
        part = handle.readline(MAX_LINE)
        skipped += len(part)
        if not part or part.endswith(b"\n"):
            return skipped


class FileImport:
    """One import of a file: its parse worker starts at once, so that it reads ahead while
    the caller opens the ledger; ``run`` then writes the records (or ``close`` drops them).

    ``actor`` is the operator running it (lookup_api.operators), by default the
    operating-system user; any other actor raises OperatorError. Without ``historical``
    the ledger stamps every entry and a line giving its own time is refused. With
    ``historical`` (first, last: ledger.store.clock.historical_range) every line gives its
    time, within the range and never before the one of the line before it; the range may
    not start before the log's last entry (ImportRefused, from ``run``).
    """

    def __init__(
        self,
        path: Path,
        *,
        actor: str | None = None,
        batch_size: int = BULK_BATCH,
        strict: bool = False,
        historical: TimeRange | None = None,
    ) -> None:
        self.actor = operator_actor(actor)
        self.batch_size = batch_size
        self.strict = strict
        self.historical = historical
        self._pipeline = Pipeline(
            file_chunks, str(path), self.actor, historical, ahead=batch_size + CHUNK
        )
        self._pipeline.start()

    def __enter__(self) -> FileImport:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker (if ``run`` did not see it through)."""
        self._pipeline.stop()

    def run(
        self,
        ledger: Ledger,
        *,
        report_to: IO[str] | None = None,
        on_bytes: Callable[[int], object] | None = None,
    ) -> ImportReport:
        """Write the file's records into ``ledger``; refused lines go to ``report_to``."""
        if self.historical is not None:
            last = _last_time(ledger)
            if last is not None and self.historical[0] < last:
                raise ImportRefused(
                    f"the historical range starts at {self.historical[0]}, before {last}, the "
                    "time of the log's last entry: entry times never decrease along the log"
                )
        return _write(ledger, self._pipeline, self.batch_size, self.strict, report_to, on_bytes)


def import_records(
    ledger: Ledger,
    path: Path,
    *,
    actor: str | None = None,
    batch_size: int = BULK_BATCH,
    strict: bool = False,
    report_to: IO[str] | None = None,
    on_bytes: Callable[[int], object] | None = None,
    historical: TimeRange | None = None,
) -> ImportReport:
    """Import ``path`` into an open ``ledger`` (see FileImport)."""
    with FileImport(
        path, actor=actor, batch_size=batch_size, strict=strict, historical=historical
    ) as job:
        return job.run(ledger, report_to=report_to, on_bytes=on_bytes)


def _write(  # noqa: PLR0917 - the parts of one run, passed on from FileImport
    ledger: Ledger,
    pipeline: Pipeline,
    batch_size: int,
    strict: bool,
    report_to: IO[str] | None,
    on_bytes: Callable[[int], object] | None,
) -> ImportReport:
    report = ImportReport()
    refused_lines: set[int] = set()  # strict mode only needs those not yet written

    def reject(rejection: Rejection) -> None:
        report.rejected += 1
        if len(report.examples) < KEPT_EXAMPLES:
            report.examples.append(rejection)
        if report_to is not None:
            report_to.write(json.dumps(rejection.as_json(), ensure_ascii=False) + "\n")

    def on_chunk(chunk: Chunk) -> None:
        report.lines += len(chunk.entries) + len(chunk.refusals)
        for line, field_name, reason, quote in chunk.refusals:
            reject(Rejection(line, field_name, reason, quote))
            if strict:
                refused_lines.add(line)
        if on_bytes:
            on_bytes(chunk.bytes_read)

    def commit(batch: list[tuple[int, NewEntry]]) -> None:
        first_line, last_line = batch[0][0], batch[-1][0]
        if strict and any(first_line <= line <= last_line for line in refused_lines):
            report.skipped_batches += 1
            return
        result = ledger.append(
            [entry for _, entry in batch], index_leaves=False, all_or_nothing=strict
        )
        for position, why in sorted(result.rejected.items()):
            reason = str(why).removeprefix(f"{why.field}: ") if why.field else str(why)
            reject(Rejection(batch[position][0], why.field, reason))
        if result.leaf_hashes:
            report.batches += 1
            imported = sum(1 for index in result.indices if index is not None)
            report.imported += imported
            report.graded += len(result.leaf_hashes) - imported
            if report.first_index is None:
                report.first_index = result.first_index
            report.last_index = result.first_index + len(result.leaf_hashes) - 1
        elif result.rejected:
            report.skipped_batches += 1

    with collector_paused():
        for batch in batched(iter(pipeline), batch_size, on_chunk):
            commit(batch)
    # The leaf-hash index catches up lazily (the service does it in the background).
    return report
