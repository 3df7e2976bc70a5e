"""The ledger's errors, by what the caller can do about them, and their exit codes.

Every layer may import this module (``ledger.tlog`` and the outside verifier too), so it
imports nothing from the project. A command line maps an error to its exit status by
type, never by the wording of its message:

====  =================  =====================================================
exit  error              meaning
====  =================  =====================================================
1     ``IntegrityError``  the log or the stored state is bad (tampered, corrupt)
2     ``InvalidInput``    bad input or usage: fix the request and run again
2     ``Misconfigured``   the set-up is wrong (another log's database, a bad key
                          file): fix the configuration; running again will not help
3     ``Unavailable``     a server or database could not be reached: try later
====  =================  =====================================================
"""

from __future__ import annotations

EXIT_INTEGRITY = 1
EXIT_INVALID = 2
EXIT_UNAVAILABLE = 3


class LedgerError(Exception):
    """The ledger cannot do what was asked; the subclass says whose fault it is."""

    exit_code = EXIT_INVALID


class InvalidInput(LedgerError, ValueError):
    """Bad input or usage: the request is refused, nothing was changed."""

    exit_code = EXIT_INVALID


class IntegrityError(LedgerError):
    """The log, or state derived from it, disagrees with itself or with its signatures."""

    exit_code = EXIT_INTEGRITY


class Unavailable(LedgerError):
    """A server or database could not be reached, or did not answer as a ledger does."""

    exit_code = EXIT_UNAVAILABLE


class Misconfigured(LedgerError):
    """The configuration does not fit the stored log (origin, key, files).

    Exit status 2 like bad usage: the operator has to change something first, so
    a retry (what status 3 invites) would fail the same way.
    """

    exit_code = EXIT_INVALID


class LedgerCorruptError(IntegrityError):
    """Stored state disagrees with itself; the log refuses to sign on top of it."""


class EntryRejected(InvalidInput):
    """One entry of a batch was refused; nothing of it was written."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RetryBatch(LedgerError):
    """A hook's optimistic assumption did not hold: run the batch again, with care.

    The transaction is rolled back; on the second run hooks are told the batch is
    not ``continuing`` and check everything against the database. The sequencer
    catches it: it never reaches a caller.
    """


def exit_code(exc: BaseException) -> int:
    """The exit status for a command that failed with ``exc``.

    Errors from outside the hierarchy are mapped by type too: a connection that
    failed or timed out is ``Unavailable`` (3), anything else is a usage error (2).
    """
    if isinstance(exc, LedgerError):
        return exc.exit_code
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return EXIT_UNAVAILABLE
    return EXIT_INVALID
