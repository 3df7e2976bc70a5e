"""The log's identity: the origin and verifier key a database belongs to.

They are written at the first start and never change; a sequencer refuses to
sign for a database of another log, and the database verifier refuses to call
another log's entries valid.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine

from ledger.errors import Misconfigured
from ledger.store import statements
from ledger.store.engine import read_transaction, write_transaction
from ledger.tlog.note import Verifier

ORIGIN = "origin"
VERIFIER_KEY = "verifier_key"


def identity(origin: str, verifier: Verifier) -> dict[str, str]:
    """The ``ledger_meta`` rows of a log."""
    return {ORIGIN: origin, VERIFIER_KEY: str(verifier)}


def identity_conflict(stored: Mapping[str, str], wanted: Mapping[str, str]) -> str | None:
    """The first field whose stored value differs from the wanted one; None when all agree.

    An empty ``stored`` (a new database) agrees with anything.
    """
    if not stored:
        return None
    return next((key for key, value in wanted.items() if stored.get(key) != value), None)


class IdentityMismatch(Misconfigured):
    """The database holds another log than the configured one."""

    def __init__(self, field: str, stored: str | None, configured: str) -> None:
        super().__init__(
            f"this database belongs to a log with {field} {stored!r}, "
            f"but the configured {field} is {configured!r}"
        )
        self.field = field
        self.stored = stored
        self.configured = configured


def pin_identity(engine: Engine, origin: str, verifier: Verifier) -> None:
    """Write the identity at the first start; refuse a different one later.

    The common case (already pinned) reads only, so a start never waits on the
    write lock held by a running sequencer.
    """
    wanted = identity(origin, verifier)
    with read_transaction(engine) as conn:
        stored = statements.read_meta(conn)
    if not stored:
        with write_transaction(engine) as conn:
            stored = statements.read_meta(conn)  # another process may have pinned it meanwhile
            if not stored:
                statements.insert_meta(conn, wanted)
                return
    check_identity(stored, wanted)


def check_identity(stored: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    """Raise IdentityMismatch unless ``stored`` is empty or equal to ``wanted``."""
    field = identity_conflict(stored, wanted)
    if field is not None:
        raise IdentityMismatch(field, stored.get(field), wanted[field])
