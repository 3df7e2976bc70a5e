"""``credtrace codes``: issue a batch's codes, export them for printing, revoke, verify."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookup_api.commands.output import CommandError, bounded_int, command, emit, progress
from lookup_api.operators import OperatorError, operator_actor

if TYPE_CHECKING:
    from ledger.tlog.note import Verifier
    from lookup_api.settings import Settings
    from qr.issuance import CodeLabel
    from qr.signing import CodeKeyRing
    from qr.verify import CodeReport

MAX_COUNT = 10_000_000
LEVELS = ("L", "M", "Q", "H")


def _gtin(text: str) -> str:
    from ledger.records.ids import IdentifierError, normalise_gtin

    try:
        return normalise_gtin(text)
    except IdentifierError as exc:
        raise argparse.ArgumentTypeError(f"GTIN {text[:40]!r}: {exc}") from None


def _keys(settings: Settings) -> CodeKeyRing:
    from qr.signing import code_key_name, load_or_create_code_keys

    return load_or_create_code_keys(settings.code_key_file, code_key_name(settings.ledger.origin))


def _write(args: argparse.Namespace, name: str, labels: list[CodeLabel]) -> dict[str, Any]:
    from qr.labels import write_label_zip

    with progress(len(labels), "images", unit=" codes") as bar:
        export = write_label_zip(
            Path(args.out), name, labels, level=args.level, on_image=bar.update
        )
    return {"zip": str(export.zip_path), "manifest": str(export.manifest_path)}


def cmd_issue(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.wiring import open_ledger
    from qr.issuance import IssueRefused, issue_codes, labels, ledger_appender

    try:
        actor = args.actor or operator_actor()
    except OperatorError as exc:
        raise CommandError(str(exc)) from None
    ledger = open_ledger(settings)
    keys = _keys(settings)
    with progress(args.count, "storing serials", unit=" codes") as bar:
        try:
            issued = issue_codes(
                ledger.engine,
                ledger_appender(ledger),
                gtin=args.gtin,
                batch=args.batch,
                count=args.count,
                key_id=keys.key_id,
                actor=actor,
                on_stored=bar.update,
            )
        except IssueRefused as exc:
            raise CommandError(f"{exc.field}: {exc}") from None
    printed = labels(
        settings.public_url, issued.gtin, issued.batch, issued.serials, keys if args.sign else None
    )
    files = _write(args, f"codes-{issued.gtin}-{issued.batch}-{issued.entry}", printed)
    data = {
        "gtin": issued.gtin,
        "batch": issued.batch,
        "count": len(issued.serials),
        "entry": issued.entry,
        "serials_root": issued.serials_root,
        "key_id": issued.key_id,
        "signed": bool(args.sign),
        **files,
    }
    emit(
        args,
        data,
        f"issued {len(issued.serials):,} codes for batch {issued.batch} of {issued.gtin} "
        f"(ledger entry {issued.entry}, serials root {issued.serials_root})\n"
        f"images: {files['zip']}\nmanifest: {files['manifest']}",
    )
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from ledger.records.tables import LIVE
    from ledger.store.engine import read_transaction
    from lookup_api.wiring import open_database
    from qr.issuance import labels
    from qr.lookup import batch_serials

    engine = open_database(settings)
    issues = LIVE["proj_code_batches"]
    with read_transaction(engine) as conn:
        query = select(issues.c.entry, issues.c.serials_root).where(
            issues.c.gtin == args.gtin, issues.c.batch == args.batch
        )
        if args.entry is not None:
            query = query.where(issues.c.entry == args.entry)
        found = conn.execute(query.order_by(issues.c.entry)).all()
        serials = [
            s for _, root in found for s in batch_serials(conn, str(root), args.gtin, args.batch)
        ]
    if not found:
        which = f" by entry {args.entry}" if args.entry is not None else ""
        raise CommandError(f"no codes were issued{which} for batch {args.batch} of {args.gtin}")
    keys = _keys(settings) if args.sign else None
    printed = labels(settings.public_url, args.gtin, args.batch, serials, keys)
    suffix = f"-{args.entry}" if args.entry is not None else ""
    files = _write(args, f"codes-{args.gtin}-{args.batch}{suffix}", printed)
    data = {"gtin": args.gtin, "batch": args.batch, "count": len(serials), **files}
    emit(args, data, f"exported {len(serials):,} codes\nimages: {files['zip']}")
    return 0


def _read_keys(text: str | None) -> list[Verifier]:
    """Code verifier keys from a file of lines, or one key line, or none."""
    from qr.signing import parse_verifier_lines

    if not text:
        return []
    path = Path(text)
    return parse_verifier_lines(path.read_text() if path.is_file() else text)


def _ledger_key(text: str | None) -> Verifier | None:
    from ledger.tlog.note import NoteError, Verifier

    if not text:
        return None
    path = Path(text)
    try:
        return Verifier.parse(path.read_text() if path.is_file() else text)
    except NoteError as exc:
        raise CommandError(f"--ledger-key: {exc}") from None


def _text(report: CodeReport) -> str:
    marks = {"passed": "ok  ", "failed": "FAIL", "skipped": "--  "}
    lines = [f"{marks[c.status]} {c.name}: {c.detail}" for c in report.checks]
    verdict = "genuine" if report.ok else "NOT verified"
    ran = ", ".join(c.name for c in report.checks if c.status != "skipped") or "none"
    return "\n".join([*lines, f"{verdict} (checks run: {ran})"])


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from qr.online import check_signature_online, verify_online
    from qr.signing import SignatureError
    from qr.verify import FAILED, PASSED, verify_offline

    try:
        keys = _read_keys(args.keys)
    except (SignatureError, OSError) as exc:
        raise CommandError(f"--keys: {exc}") from None
    report = verify_offline(args.url, keys)
    if not args.offline and report.code is not None:
        # The regulator's service, never the host a code names: a counterfeiter's code
        # would name a server of its own that vouches for it.
        server = (args.server or settings.public_url).rstrip("/")
        named = report.code.base_url.rstrip("/")
        if named == server:
            report.add("host", PASSED, f"the code names the service it was checked with ({server})")
        else:
            report.add(
                "host",
                FAILED,
                f"the code names {named[:80]}, not the service it was checked with ({server}): "
                "it was not printed for this register",
            )
        check_signature_online(report, server)
        verify_online(report, server, _ledger_key(args.ledger_key))
    emit(args, report.as_json(), _text(report))
    return 0 if report.ok else 1


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from qr.signing import verifier_lines

    lines = verifier_lines(_keys(settings).verifiers())
    emit(args, {"keys": lines.splitlines()}, lines.rstrip("\n"))
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.records.entry import record_entry
    from ledger.records.kinds import RecordError
    from lookup_api.wiring import open_ledger
    from qr.issuance import ledger_appender

    try:
        actor = args.actor or operator_actor()
    except OperatorError as exc:
        raise CommandError(str(exc)) from None
    payload = {
        "gtin": args.gtin,
        "batch": args.batch,
        "serials": args.serial,
        "reason": args.reason,
    }
    try:
        entry = record_entry("codes.revoked", payload, actor)
    except RecordError as exc:
        raise CommandError(str(exc)) from None
    index = ledger_appender(open_ledger(settings))(entry)
    which = f"{len(args.serial)} codes" if args.serial else "every code"
    emit(
        args,
        {"entry": index, "gtin": args.gtin, "batch": args.batch, "serials": args.serial},
        f"revoked {which} of batch {args.batch} of {args.gtin} (ledger entry {index})",
    )
    return 0


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from qr.signing import code_key_name, rotate_code_key

    ring = rotate_code_key(settings.code_key_file, code_key_name(settings.ledger.origin))
    emit(
        args,
        {"key_id": ring.key_id, "keys": len(ring.signers)},
        f"new code-signing key {ring.key_id}; the {len(ring.signers) - 1} older ones still verify",
    )
    return 0


def _out_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gtin", required=True, type=_gtin, help="GTIN-8, -12, -13 or -14")
    parser.add_argument("--batch", required=True, help="the declared batch or lot")
    parser.add_argument("--out", required=True, help="folder for the ZIP and the CSV manifest")
    parser.add_argument("--sign", action="store_true", help="add sig= so codes check offline")
    parser.add_argument("--level", choices=LEVELS, default="M", help="error correction")


def register(sub: Any) -> None:
    codes = sub.add_parser("codes", help="traceability codes: issue, export, verify")
    csub = codes.add_subparsers(dest="codes_command", required=True)
    issue = command(csub, "issue", cmd_issue, "issue a declared batch's codes and their images")
    _out_options(issue)
    issue.add_argument("--count", required=True, type=bounded_int(1, MAX_COUNT))
    issue.add_argument("--actor", help="operator:<name> (default: the operating-system user)")
    export = command(csub, "export", cmd_export, "export issued codes for label printers")
    _out_options(export)
    export.add_argument("--entry", type=bounded_int(0, 2**53 - 1), help="one issuance only")
    verify = command(csub, "verify", cmd_verify, "check a code offline, and online if reachable")
    verify.add_argument("url", help="the URL a code holds")
    verify.add_argument("--keys", help="code verifier keys: a file of lines, or one key line")
    verify.add_argument("--ledger-key", help="the ledger's verifier key (file or line)")
    verify.add_argument(
        "--server",
        help="the service to ask (default: CREDTRACE_PUBLIC_URL, never the code's own host)",
    )
    verify.add_argument("--offline", action="store_true", help="never contact the service")
    revoke = command(csub, "revoke", cmd_revoke, "revoke codes of a batch (none named: all)")
    revoke.add_argument("--gtin", required=True, type=_gtin, help="GTIN-8, -12, -13 or -14")
    revoke.add_argument("--batch", required=True, help="the batch or lot")
    revoke.add_argument("--serial", action="append", default=[], help="a serial (repeatable)")
    revoke.add_argument("--reason", required=True, help="why, as the ledger will record it")
    revoke.add_argument("--actor", help="operator:<name> (default: the operating-system user)")
    command(csub, "keys", cmd_keys, "print the code verifier keys, oldest first")
    command(csub, "rotate-key", cmd_rotate, "start signing with a new code key")
