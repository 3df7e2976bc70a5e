"""``credtrace ledger``: verify, checkpoint, export, import, replay."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookup_api.commands.output import CommandError, command, emit, progress

if TYPE_CHECKING:
    from lookup_api.settings import Settings


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.audit.verify import VerificationError
    from ledger.store.dbverify import verify_database
    from ledger.tlog.note import Verifier
    from lookup_api.wiring import open_ledger

    ledger = open_ledger(settings)
    verifier = Verifier.parse(args.key) if args.key else ledger.verifier
    with progress(ledger.size(), "verifying") as bar:
        try:
            report = verify_database(ledger.engine, verifier, ledger.origin, progress=bar.update)
        except VerificationError as exc:
            bar.close()
            if args.json:
                print(json.dumps({"ok": False, "index": exc.index, "error": str(exc)}, indent=2))
            else:
                print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    data = report.as_json()
    emit(
        args,
        data,
        f"OK: {report.size} entries, {report.checkpoints} signed checkpoints, "
        f"{report.tiles} tiles, {report.redacted} redacted payloads verified in "
        f"{report.seconds:.2f} s\nroot {data['root']}",
    )
    return 0


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.tlog.checkpoint import Checkpoint
    from lookup_api.wiring import open_ledger

    ledger = open_ledger(settings)
    checkpoint = ledger.latest_checkpoint()
    if checkpoint is None:
        raise CommandError("the log is empty: no checkpoint has been signed yet")
    body = Checkpoint.parse_body(checkpoint.note.split("\n\n")[0] + "\n")
    data: dict[str, Any] = {
        "origin": body.origin,
        "size": checkpoint.size,
        "root": base64.b64encode(checkpoint.root).decode(),
        "note": checkpoint.note,
        "verifier_key": str(ledger.verifier),
    }
    emit(args, data, checkpoint.note.rstrip("\n"))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.wiring import backup_log, open_ledger

    ledger = open_ledger(settings)
    target = Path(args.file)
    tmp = target.with_name(target.name + ".partial")
    with progress(ledger.size(), "exporting") as bar, tmp.open("w", encoding="utf-8") as out:
        count = backup_log(ledger.engine, out, progress=bar.update)
    tmp.replace(target)
    emit(args, {"file": str(target), "entries": count}, f"exported {count} entries to {target}")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.store.export import ExportFileError
    from lookup_api.wiring import forget_cached, open_ledger, restore_log

    source = Path(args.file)
    if not source.is_file():
        raise CommandError(f"{source} does not exist")
    ledger = open_ledger(settings)
    with progress(None, "importing") as bar, source.open(encoding="utf-8") as handle:
        try:
            report = restore_log(ledger, handle, progress=bar.update)
        except ExportFileError as exc:
            bar.close()
            raise CommandError(f"import refused, nothing was written: {exc}") from exc
    forget_cached(settings, ledger.size())
    emit(
        args,
        report.as_json(),
        f"imported and verified {report.size} entries and {report.checkpoints} checkpoints; "
        "projections rebuilt",
    )
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.records.projector import replay
    from lookup_api.wiring import forget_cached, open_ledger

    ledger = open_ledger(settings)
    with progress(ledger.size(), "replaying") as bar:
        report = replay(ledger.engine, apply_result=args.apply, progress=bar.update)
    if report.applied:
        forget_cached(settings, ledger.size())
    if report.equal:
        text = f"rebuilt the projections from {report.entries} entries: identical to the live state"
    elif report.applied:
        text = f"rebuilt from {report.entries} entries; the live state differed and was replaced"
    else:
        lines = [f"rebuilt from {report.entries} entries; the live state DIFFERS:"]
        lines += [f"  {name}: {count} rows" for name, count in report.differences.items()]
        lines += [f"  {example}" for example in report.examples]
        lines.append("run again with --apply to replace the live state")
        text = "\n".join(lines)
    emit(args, report.as_json(), text)
    return 0 if report.equal or report.applied else 1


def register(sub: Any) -> None:
    ledger = sub.add_parser("ledger", help="the log: verify, checkpoint, export, import, replay")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = command(lsub, "verify", cmd_verify, "verify chain, tree, tiles and checkpoints")
    verify.add_argument("--key", help="verifier key to check against (default: this log's)")
    command(lsub, "checkpoint", cmd_checkpoint, "print the latest signed checkpoint")
    command(lsub, "export", cmd_export, "write the whole log to FILE").add_argument("file")
    replay = command(lsub, "replay", cmd_replay, "rebuild the projections and compare")
    replay.add_argument("--apply", action="store_true", help="replace the live state if it differs")
    restore = command(
        lsub, "import", cmd_import, "verify FILE, restore it and its state into an empty log"
    )
    restore.add_argument("file")
