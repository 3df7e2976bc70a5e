"""The ``credtrace`` command line."""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from tqdm import tqdm

from ledger.audit.verify import VerificationError
from ledger.errors import EXIT_INVALID, EXIT_UNAVAILABLE, LedgerError, exit_code
from ledger.store.clock import historical_range
from ledger.store.dbverify import verify_database
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import Verifier
from lookup_api.auth import AuthError
from lookup_api.bulk.pipeline import BULK_BATCH
from lookup_api.operators import OperatorError, operator_actor
from lookup_api.settings import Settings
from lookup_api.wiring import open_ledger, restore_log


class CommandError(Exception):
    """A command failed; the message says what went wrong."""


MAX_SEED_ENTERPRISES = 1_000_000


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a decimal integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:20]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low} to {high:,}, got {value}")
        return value

    return parse


def _operator(text: str) -> str:
    """An argparse type: ``--actor operator:<name>`` (a usage error, exit 2, otherwise)."""
    try:
        return operator_actor(text)
    except OperatorError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _time_range(text: str) -> tuple[str, str]:
    """An argparse type: ``--historical FROM..TO`` (a usage error, exit 2, otherwise)."""
    try:
        return historical_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text)


def _progress(total: int | None, desc: str) -> tqdm[Any]:
    return tqdm(
        total=total,
        desc=desc,
        unit=" entries",
        unit_scale=True,
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
    )


# --- ledger -------------------------------------------------------------------


def cmd_ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    ledger = open_ledger(settings)
    verifier = Verifier.parse(args.key) if args.key else ledger.verifier
    size = ledger.size()
    with _progress(size, "verifying") as bar:
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
    _emit(
        args,
        data,
        f"OK: {report.size} entries, {report.checkpoints} signed checkpoints, "
        f"{report.tiles} tiles, {report.redacted} redacted payloads verified in "
        f"{report.seconds:.2f} s\nroot {data['root']}",
    )
    return 0


def cmd_ledger_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    ledger = open_ledger(settings)
    checkpoint = ledger.latest_checkpoint()
    if checkpoint is None:
        raise CommandError("the log is empty: no checkpoint has been signed yet")
    body = Checkpoint.parse_body(checkpoint.note.split("\n\n")[0] + "\n")
    data = {
        "origin": body.origin,
        "size": checkpoint.size,
        "root": base64.b64encode(checkpoint.root).decode(),
        "note": checkpoint.note,
        "verifier_key": str(ledger.verifier),
    }
    _emit(args, data, checkpoint.note.rstrip("\n"))
    return 0


def cmd_ledger_export(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.store.export import export_log

    ledger = open_ledger(settings)
    target = Path(args.file)
    tmp = target.with_name(target.name + ".partial")
    with _progress(ledger.size(), "exporting") as bar, tmp.open("w", encoding="utf-8") as out:
        count = export_log(ledger.engine, out, progress=bar.update)
    tmp.replace(target)
    _emit(args, {"file": str(target), "entries": count}, f"exported {count} entries to {target}")
    return 0


def cmd_ledger_import(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.store.export import ExportFileError

    ledger = open_ledger(settings)
    source = Path(args.file)
    if not source.exists():
        raise CommandError(f"{source} does not exist")
    with _progress(None, "importing") as bar, source.open(encoding="utf-8") as handle:
        try:
            report = restore_log(ledger, handle, progress=bar.update)
        except ExportFileError as exc:
            bar.close()
            raise CommandError(f"import refused, nothing was written: {exc}") from exc
    _emit(
        args,
        report.as_json(),
        f"imported and verified {report.size} entries and {report.checkpoints} checkpoints; "
        "projections rebuilt",
    )
    return 0


def cmd_ledger_replay(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.records.projector import replay

    ledger = open_ledger(settings)
    with _progress(ledger.size(), "replaying") as bar:
        report = replay(ledger.engine, apply_result=args.apply, progress=bar.update)
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
    _emit(args, report.as_json(), text)
    return 0 if report.equal or report.applied else 1


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.bulk.importer import ImportRefused, import_records

    try:
        actor: str = args.actor or operator_actor()
    except OperatorError as exc:
        raise CommandError(str(exc)) from None
    ledger = open_ledger(settings)
    source = Path(args.file)
    if not source.is_file():
        raise CommandError(f"{source} does not exist")
    report_path = Path(args.report) if args.report else source.with_suffix(".rejected.jsonl")
    with (
        tqdm(
            total=source.stat().st_size,
            desc="importing",
            unit="B",
            unit_scale=True,
            file=sys.stderr,
            disable=None,
            dynamic_ncols=True,
        ) as bar,
        report_path.open("w", encoding="utf-8") as rejected,
    ):
        try:
            report = import_records(
                ledger,
                source,
                actor=actor,
                batch_size=args.batch,
                strict=args.strict,
                report_to=rejected,
                on_bytes=bar.update,
                historical=args.historical,
            )
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
    ]
    if report.rejected:
        lines.append(f"refused {report.rejected} lines; all of them are listed in {report_path}:")
        lines += [
            f"  line {r.line}: " + (f"{r.field}: " if r.field else "") + r.reason
            for r in report.examples
        ]
        if report.skipped_batches:
            lines.append(f"{report.skipped_batches} batches were not written (--strict)")
    _emit(args, data, "\n".join(lines))
    return 0 if not report.rejected else 1


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.auth import create_key

    ledger = open_ledger(settings)
    key, token = create_key(ledger.engine, args.role, args.uscc, args.label)
    data = {"key_id": key.key_id, "role": key.role, "uscc": key.uscc, "token": token}
    text = (
        f"created {key.role} key {key.key_id}"
        + (f" for {key.uscc}" if key.uscc else "")
        + f"\n{token}\nkeep it secret: it is shown this once and stored only as a hash"
    )
    _emit(args, data, text)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.auth import list_keys

    keys = list_keys(open_ledger(settings).engine)
    rows = [
        f"{k['key_id']}  {k['role']:<10} {k['uscc'] or '-':<18} {k['created_at']}"
        + ("  revoked " + str(k["revoked_at"]) if k["revoked_at"] else "")
        for k in keys
    ]
    _emit(args, {"keys": keys}, "\n".join(rows) or "no keys")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.auth import revoke_key

    if not revoke_key(open_ledger(settings).engine, args.key_id):
        raise CommandError(f"no active key {args.key_id}")
    _emit(args, {"revoked": args.key_id}, f"revoked {args.key_id}")
    return 0


# --- serving --------------------------------------------------------------------


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.bulk.seed import estimated_records, seed_ledger

    ledger = open_ledger(settings)
    if (size := ledger.size()) > 0:
        raise CommandError(
            f"seed makes a whole synthetic data set and needs an empty log; this one holds "
            f"{size:,} entries (point CREDTRACE_DATABASE_URL at a new database)"
        )
    with _progress(estimated_records(args.enterprises), "seeding") as bar:
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
    _emit(args, data, text)
    return 0


class PortTaken(CommandError):
    """The address to serve on is in use (or not ours to bind)."""


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind the listening socket before anything else, so a taken port fails first."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise PortTaken(
            f"cannot serve on {host}:{port}: {exc.strerror}. Choose another port with "
            f"--port {port + 1} (scripts/demo: PORT={port + 1} scripts/demo)"
        ) from exc
    return listener


def cmd_serve(
    args: argparse.Namespace, settings: Settings, listener: socket.socket | None = None
) -> int:
    import uvicorn

    listener = listener or reserve_port(args.host, args.port)
    # Migrate and create the key once, before workers start in parallel.
    open_ledger(settings).engine.dispose()
    uvicorn.run(
        "lookup_api.app:create_app_from_env",
        factory=True,
        fd=listener.fileno(),
        workers=args.workers,
        log_level="info",
        access_log=False,
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.bulk.demo import EXAMPLE_BATCH, EXAMPLE_GTIN, EXAMPLE_USCC, seed_demo

    listener = reserve_port(args.host, args.port)
    ledger = open_ledger(settings)
    seeded = seed_demo(ledger)
    base = f"http://{args.host}:{args.port}"
    print(f"demo log: {ledger.size()} entries ({seeded} added now)")
    print("try:")
    for what, path in (
        ("the signed checkpoint", "/checkpoint"),
        ("the log's verifier key", "/v1/ledger/key"),
        ("an entry", "/v1/ledger/entries/1"),
        ("its inclusion proof", "/v1/ledger/proof/inclusion?index=1"),
        ("its offline proof (C2SP tlog-proof)", "/v1/ledger/entries/1/proof"),
        ("a tile", "/tile/0/000"),
        ("an enterprise", f"/v1/enterprises/{EXAMPLE_USCC}"),
        ("a product", f"/v1/products/{EXAMPLE_GTIN}"),
        ("a batch", f"/v1/batches/{EXAMPLE_GTIN}/{EXAMPLE_BATCH}"),
        ("the API", "/schema"),
    ):
        print(f"  {what:<38} {base}{path}")
    print(f"verify it yourself:  python -m ledger verify --url {base}")
    ledger.engine.dispose()
    args.workers = 1
    return cmd_serve(args, settings, listener)


# --- parser ---------------------------------------------------------------------


def _command(
    sub: Any, name: str, func: Callable[[argparse.Namespace, Settings], int], help_text: str
) -> argparse.ArgumentParser:
    """A command that answers a question: it always takes --json."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credtrace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="seed a small demo data set, print URLs to try, serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=cmd_demo)

    ledger = sub.add_parser("ledger", help="the log: verify, checkpoint, export, import, replay")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = _command(
        lsub, "verify", cmd_ledger_verify, "verify chain, tree, tiles and checkpoints"
    )
    verify.add_argument("--key", help="verifier key to check against (default: this log's)")
    _command(lsub, "checkpoint", cmd_ledger_checkpoint, "print the latest signed checkpoint")
    _command(lsub, "export", cmd_ledger_export, "write the whole log to FILE").add_argument("file")
    replay = _command(lsub, "replay", cmd_ledger_replay, "rebuild the projections and compare")
    replay.add_argument("--apply", action="store_true", help="replace the live state if it differs")
    restore = _command(
        lsub, "import", cmd_ledger_import, "verify FILE, restore it and its state into an empty log"
    )
    restore.add_argument("file")

    seed = _command(sub, "seed", cmd_seed, "generate a realistic synthetic data set into the log")
    seed.add_argument(
        "--enterprises",
        type=bounded_int(1, MAX_SEED_ENTERPRISES),
        default=1000,
        help=f"how many enterprises, 1 to {MAX_SEED_ENTERPRISES:,}",
    )
    seed.add_argument("--seed", type=int, default=1, help="same seed, same records")

    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    create = _command(ksub, "create", cmd_keys_create, "create a key (its token is shown once)")
    create.add_argument(
        "--role", required=True, choices=["officer", "enterprise", "platform", "auditor"]
    )
    create.add_argument("--uscc", help="the enterprise an enterprise key is bound to")
    create.add_argument("--label", help="who or what the key is for")
    _command(ksub, "list", cmd_keys_list, "list keys (never their secrets)")
    _command(ksub, "revoke", cmd_keys_revoke, "revoke a key").add_argument("key_id")

    records = _command(sub, "import", cmd_import, "import records from a JSON-lines file")
    records.add_argument("file", help='one {"kind", "payload"[, "time"]} object per line')
    records.add_argument(
        "--batch",
        type=int,
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        result: int = args.func(args, settings)
    except (CommandError, AuthError) as exc:
        print(f"credtrace: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (OperationalError, InterfaceError) as exc:  # the database could not be reached
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "no answer"
        print(f"credtrace: unavailable: the database: {reason}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (LedgerError, OSError) as exc:
        # The error's type decides the status (ledger/errors.py), never its wording.
        status = exit_code(exc)
        label = "unavailable" if status == EXIT_UNAVAILABLE else "error"
        print(f"credtrace: {label}: {exc}", file=sys.stderr)
        return status
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
