"""``credtrace import`` and ``credtrace seed``: records in bulk."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookup_api.bulk import BULK_BATCH
from lookup_api.commands.output import CommandError, bounded_int, command, emit, progress
from lookup_api.operators import OperatorError, operator_actor

if TYPE_CHECKING:
    from lookup_api.settings import Settings

MAX_SEED_ENTERPRISES = 1_000_000


def _operator(text: str) -> str:
    """An argparse type: ``--actor operator:<name>`` (a usage error, exit 2, otherwise)."""
    try:
        return operator_actor(text)
    except OperatorError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _time_range(text: str) -> tuple[str, str]:
    """An argparse type: ``--historical FROM..TO`` (a usage error, exit 2, otherwise)."""
    from ledger.store.clock import historical_range

    try:
        return historical_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.bulk.importer import FileImport, ImportRefused

    try:
        actor: str = args.actor or operator_actor()
    except OperatorError as exc:
        raise CommandError(str(exc)) from None
    source = Path(args.file)
    if not source.is_file():
        raise CommandError(f"{source} does not exist")
    report_path = Path(args.report) if args.report else source.with_suffix(".rejected.jsonl")
    # The parse worker starts first: it reads ahead while this process loads SQL and opens
    # the ledger, which is about a second of a 100,000-line import.
    with FileImport(
        source,
        actor=actor,
        batch_size=args.batch,
        strict=args.strict,
        historical=args.historical,
    ) as job:
        from lookup_api.wiring import open_ledger

        ledger = open_ledger(settings)
        with (
            progress(source.stat().st_size, "importing", unit="B") as bar,
            report_path.open("w", encoding="utf-8") as rejected,
        ):
            try:
                report = job.run(ledger, report_to=rejected, on_bytes=bar.update)
            except ImportRefused as exc:
                report_path.unlink()
                raise CommandError(str(exc)) from None
    if not report.rejected:
        report_path.unlink()
    data = report.as_json()
    data["rejections_file"] = str(report_path) if report.rejected else None
    lines = [
        f"imported {report.imported} of {report.lines} records in {report.batches} batches"
        + (f" (entries {report.first_index}..{report.last_index})" if report.imported else "")
        + (f"; {report.graded} grades changed" if report.graded else "")
    ]
    if report.rejected:
        lines.append(f"refused {report.rejected} lines; all of them are listed in {report_path}:")
        lines += [
            f"  line {r.line}: " + (f"{r.field}: " if r.field else "") + r.reason
            for r in report.examples
        ]
        if report.skipped_batches:
            lines.append(f"{report.skipped_batches} batches were not written (--strict)")
    emit(args, data, "\n".join(lines))
    return 0 if not report.rejected else 1


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.bulk.seed import estimated_records, seed_ledger
    from lookup_api.wiring import open_ledger

    ledger = open_ledger(settings)
    if (size := ledger.size()) > 0:
        raise CommandError(
            f"seed makes a whole synthetic data set and needs an empty log; this one holds "
            f"{size:,} entries (point CREDTRACE_DATABASE_URL at a new database)"
        )
    with progress(estimated_records(args.enterprises), "seeding") as bar:
        summary = seed_ledger(ledger, args.enterprises, args.seed, progress=bar.update)
    data = summary.as_json()
    data["tree_size"] = ledger.size()
    text = (
        f"seeded {summary.records} records: {summary.enterprises} enterprises, "
        f"{summary.products} products, {summary.batches} batches "
        f"({summary.non_conformant / max(1, summary.inspections):.2%} non-conformant), "
        f"{summary.violations} violations, {summary.complaints} complaints, "
        f"{summary.recalls} recalls, {summary.blacklisted} blacklisted; log size {ledger.size()}"
    )
    emit(args, data, text)
    return 0


def register(sub: Any) -> None:
    seed = command(sub, "seed", cmd_seed, "generate a realistic synthetic data set into the log")
    seed.add_argument(
        "--enterprises",
        type=bounded_int(1, MAX_SEED_ENTERPRISES),
        default=1000,
        help=f"how many enterprises, 1 to {MAX_SEED_ENTERPRISES:,}",
    )
    seed.add_argument("--seed", type=int, default=1, help="same seed, same records")

    records = command(sub, "import", cmd_import, "import records from a JSON-lines file")
    records.add_argument("file", help='one {"kind", "payload"[, "time"]} object per line')
    records.add_argument(
        "--batch",
        type=bounded_int(1, 1_000_000),
        default=BULK_BATCH,
        help=f"records per transaction (default {BULK_BATCH:,})",
    )
    records.add_argument(
        "--strict", action="store_true", help="write no part of a batch that holds a refused line"
    )
    records.add_argument(
        "--actor",
        type=_operator,
        help="operator:<name>, the operator running the import, recorded as each entry's "
        "actor (default: operator:<the operating-system user>)",
    )
    records.add_argument(
        "--report", help="where to list refused lines (default FILE.rejected.jsonl)"
    )
    records.add_argument(
        "--historical",
        metavar="FROM..TO",
        type=_time_range,
        help="a migration of recorded history: every line gives its time, within FROM..TO "
        "(dates or UTC times), never decreasing and not before the log's last entry; without "
        "it the ledger stamps each entry and a line's own time is refused",
    )
