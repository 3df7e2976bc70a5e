"""The ``credtrace`` command line.

It imports only the standard library and the command modules' parsers at start; each
command imports what it needs when it runs (see ``lookup_api.commands``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ledger.errors import EXIT_INVALID, EXIT_UNAVAILABLE, LedgerError, exit_code
from lookup_api.commands import codes, credit, keys, ledger, records, serve
from lookup_api.commands.output import CommandError
from lookup_api.settings import Settings

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credtrace", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve.register(sub)
    ledger.register(sub)
    records.register(sub)
    keys.register(sub)
    codes.register(sub)
    credit.register(sub)
    return parser


def failure(exc: BaseException) -> tuple[str, int] | None:
    """How to report an error a command raised: its label and exit status; None for a bug.

    An error class of a module that was never imported cannot have been raised, so the
    database's and the key store's errors are looked up only if their module is loaded.
    """
    if isinstance(exc, CommandError):
        return "error", EXIT_INVALID
    auth = sys.modules.get("lookup_api.auth")
    if auth is not None and isinstance(exc, auth.AuthError):
        return "error", EXIT_INVALID
    database = sys.modules.get("sqlalchemy.exc")
    if database is not None and isinstance(
        exc, database.OperationalError | database.InterfaceError
    ):
        return "unavailable", EXIT_UNAVAILABLE
    if isinstance(exc, LedgerError | OSError):
        # The error's type decides the status (ledger/errors.py), never its wording.
        status = exit_code(exc)
        return ("unavailable" if status == EXIT_UNAVAILABLE else "error"), status
    return None


def message(exc: BaseException) -> str:
    """The error's message; for the database, its first line (what failed, not the SQL)."""
    orig = getattr(exc, "orig", None)
    database = sys.modules.get("sqlalchemy.exc")
    if database is not None and isinstance(exc, database.DBAPIError):
        reason = str(orig).strip().splitlines()[0] if orig else "no answer"
        return f"the database: {reason}"
    return str(exc)


def report(args: argparse.Namespace, label: str, status: int, text: str) -> None:
    """Say what went wrong: on stderr, or as a JSON object on stdout with ``--json``."""
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, label: text, "exit_code": status}, ensure_ascii=False))
    else:
        print(f"credtrace: {label}: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # A setting that cannot be read is one line naming it (ledger.store.config).
        result: int = args.func(args, Settings.from_env())
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (``| head``) has gone: say nothing more, and let the interpreter's
        # final flush write to nowhere instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        reported = failure(exc)
        if reported is None:
            raise
        label, status = reported
        report(args, label, status, message(exc))
        return status
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
