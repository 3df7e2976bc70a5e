"""``python -m ledger verify --url URL``: an outside auditor's verifier.

Needs only this package. Without ``--key`` it trusts the key the server presents
and prints it, so that the next run can pin it. Exit status (``ledger/errors.py``): 0 when the log
verifies; 1 when it does not (the message names the first bad entry); 2 for
bad usage (a malformed ``--key``, an unreadable ``--state`` file); 3 when the
server could not be reached or did not answer as a ledger does (try later).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ledger.audit.remote import RemoteReport, load_state, save_state, verify_remote
from ledger.errors import EXIT_INTEGRITY, EXIT_UNAVAILABLE, LedgerError, exit_code

# How a failure is announced on stderr, by exit status.
FAILURE_LABEL = {EXIT_INTEGRITY: "FAILED", EXIT_UNAVAILABLE: "UNAVAILABLE"}
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="download and verify a live log")
    verify.add_argument(
        "--url", required=True, help="the service's base URL, e.g. http://127.0.0.1:8000"
    )
    verify.add_argument(
        "--key", help="the verifier key you trust (default: trust the one served, and print it)"
    )
    verify.add_argument(
        "--state",
        type=Path,
        help="file holding the last checkpoint you verified; the log must be consistent with it, "
        "and it is replaced by the new one on success",
    )
    verify.add_argument(
        "--api-key-env",
        metavar="NAME",
        default="CREDTRACE_API_KEY",
        help="environment variable holding an API key to send (an auditor's key discloses "
        "every payload, so every commitment is checked; default CREDTRACE_API_KEY)",
    )
    verify.add_argument("--spot-checks", type=int, default=16, help="server proofs to cross-check")
    verify.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    try:
        since = load_state(args.state) if args.state else None
        api_key = os.environ.get(args.api_key_env) or None
        report, note = verify_remote(args.url, args.key, since, args.spot_checks, api_key=api_key)
        if args.state:
            save_state(args.state, note)
    except (LedgerError, OSError) as exc:
        return _fail(args, exc)
    try:
        _print_report(args, report, note)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (``| head``) has gone: the verdict stands, only its printing stopped.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return 0


def _print_report(args: argparse.Namespace, report: RemoteReport, note: str) -> None:
    if args.json:
        data = report.as_json()
        data["checkpoint"] = note
        print(json.dumps(data, indent=2))
        return
    print(
        f"OK: {report.size} entries, hash chain, payload commitments, {report.tiles} tiles, "
        f"the signed checkpoint and {report.proofs_checked} server proofs verified "
        f"in {report.seconds:.1f} s"
    )
    if report.withheld:
        print(
            f"{report.withheld} payloads were withheld by the server: their commitments were "
            "not checked (an auditor key in the --api-key-env variable discloses them)"
        )
    if report.consistent_with is not None:
        print(f"the log only grew since the trusted checkpoint of size {report.consistent_with}")
    if report.key_given:
        print(f"verifier key (yours, matched by the server): {report.verifier_key}")
    else:
        print(f"verifier key (as served; pass it as --key to pin it): {report.verifier_key}")
    print(note.rstrip("\n"))


def _fail(args: argparse.Namespace, exc: BaseException) -> int:
    """Report ``exc`` on one line (no traceback); its type decides the exit status."""
    status = exit_code(exc)
    message = " ".join(str(exc).split()) or type(exc).__name__
    if args.json:
        index = getattr(exc, "index", None)
        print(json.dumps({"ok": False, "index": index, "error": message}, indent=2))
    else:
        print(f"{FAILURE_LABEL.get(status, 'ERROR')}: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
