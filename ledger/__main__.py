"""``python -m ledger verify --url URL``: an outside auditor's verifier.

Needs only this package. Exit status 0 when the log verifies, 1 when it does
not (the message names the first bad entry), 2 when it could not be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ledger.audit.remote import RemoteError, load_state, save_state, verify_remote
from ledger.audit.verify import VerificationError


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
    verify.add_argument("--spot-checks", type=int, default=16, help="server proofs to cross-check")
    verify.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    since = load_state(args.state) if args.state else None
    try:
        report, note = verify_remote(args.url, args.key, since, args.spot_checks)
    except RemoteError as exc:
        fatal = exc.index is not None or "differs" in str(exc) or "rewritten" in str(exc)
        _fail(args, str(exc), exc.index)
        return 1 if fatal or "does not verify" in str(exc) else 2
    except VerificationError as exc:
        _fail(args, str(exc), exc.index)
        return 1
    if args.state:
        save_state(args.state, note)
    if args.json:
        data = report.as_json()
        data["checkpoint"] = note
        print(json.dumps(data, indent=2))
    else:
        print(
            f"OK: {report.size} entries, hash chain, payload commitments, {report.tiles} tiles, "
            f"the signed checkpoint and {report.proofs_checked} server proofs verified "
            f"in {report.seconds:.1f} s"
        )
        if report.consistent_with is not None:
            print(
                f"the log only grew since the trusted checkpoint of size {report.consistent_with}"
            )
        print(note.rstrip("\n"))
    return 0


def _fail(args: argparse.Namespace, message: str, index: int | None) -> None:
    if args.json:
        print(json.dumps({"ok": False, "index": index, "error": message}, indent=2))
    else:
        print(f"FAILED: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
