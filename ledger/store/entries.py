"""What the log takes and gives back: new entries, stored entries, batch results, hooks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ledger.errors import EntryRejected
from ledger.tlog import merkle
from ledger.tlog.envelope import (
    REDACTION_KIND,
    EnvelopeError,
    check_kind,
    check_label,
    check_time,
    json_label,
)

if TYPE_CHECKING:  # the bulk import's parse worker loads this module without SQLAlchemy
    from sqlalchemy import Connection


def request_hash(kind: str, payload: bytes) -> bytes:
    """What a request key is stored with: SHA-256 of the kind and the canonical payload."""
    return hashlib.sha256(kind.encode() + b"\n" + payload).digest()


class NewEntry:
    """A fact to record. ``payload`` is already canonical JSON (RFC 8785)."""

    __slots__ = (
        "actor",
        "actor_json",
        "kind",
        "payload",
        "record",
        "redacts",
        "request_hash",
        "request_key",
        "subject",
        "subject_json",
        "time",
        "validated",
    )

    def __init__(
        self,
        kind: str,
        subject: str,
        payload: bytes,
        actor: str,
        *,
        time: str | None = None,
        redacts: int | None = None,
        record: Any = None,
        request_key: str | None = None,
    ) -> None:
        self.kind = check_kind(kind)
        self.subject = check_label("subject", subject)
        self.actor = check_label("actor", actor)
        self.time = check_time(time) if time is not None else None
        self.payload = payload
        self.redacts = redacts
        self.record = record  # the parsed record, when the caller has it
        # True once the payload passed its kind's schema (record_entry, or a trusted pipeline).
        self.validated = record is not None
        # A caller's key for this request: appending it again returns the first entry.
        self.request_key = request_key
        self.request_hash = request_hash(kind, payload) if request_key else None
        if (kind == REDACTION_KIND) != (redacts is not None):
            raise EnvelopeError(
                f"an {REDACTION_KIND} entry, and only it, names the entry it redacts"
            )
        self.subject_json = json_label(subject)
        self.actor_json = json_label(actor)


def trusted_entry(  # noqa: PLR0917 - the envelope's fields, in order
    kind: str,
    subject: str,
    payload: bytes,
    actor: str,
    time: str | None,
    subject_json: bytes | None = None,
    actor_json: bytes | None = None,
) -> NewEntry:
    """A NewEntry from fields another process has already validated (bulk pipelines)."""
    entry = NewEntry.__new__(NewEntry)
    entry.kind, entry.subject, entry.payload, entry.actor, entry.time = (
        kind,
        subject,
        payload,
        actor,
        time,
    )
    entry.redacts = None
    entry.record = None
    entry.validated = True
    entry.request_key = entry.request_hash = None
    entry.subject_json = subject_json or json_label(subject)
    entry.actor_json = actor_json or json_label(actor)
    return entry


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class BatchResult:
    """What one committed transaction appended, and the checkpoint that covers it."""

    first_index: int
    leaf_hashes: list[bytes]
    checkpoint: SignedCheckpoint | None  # None only when nothing was appended to an empty log
    rejected: dict[int, EntryRejected] = field(default_factory=dict)  # position in batch -> why
    indices: list[int | None] = field(default_factory=list)  # position in batch -> index
    # Positions whose request key was seen before: they were not appended again,
    # ``indices`` gives the entry that the first request created.
    repeated: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf_input: bytes
    salt: bytes | None
    payload: bytes | None

    @property
    def leaf_hash(self) -> bytes:
        return merkle.hash_leaf(self.leaf_input)

    @property
    def redacted(self) -> bool:
        return self.payload is None


class BatchHook(Protocol):
    """Extension point for record rules and projections, run under the write lock."""

    def begin(self, conn: Connection, entries: Sequence[NewEntry], continuing: bool) -> None:
        """A batch starts: load what its checks will need.

        ``continuing`` is true when nothing but this process's own committed batches
        came since the last one, so state cached from them is still exact.
        """

    def check(self, entry: NewEntry, index: int, time: str) -> None:
        """Raise EntryRejected to refuse ``entry``; otherwise stage its effects."""

    def more(self, conn: Connection, size: int, time: str) -> Sequence[NewEntry]:
        """Entries the batch's effects call for, appended at its end (``size`` is the
        tree size before them, ``time`` the latest time in the batch); they are checked
        by every hook like the others. Most hooks return ``()``."""

    def finish(self, conn: Connection, redacted: Sequence[int]) -> None:
        """Write the staged effects in the batch's transaction; ``redacted`` payloads are gone."""


class CommitListener(Protocol):
    """Told of every batch the sequencer writes, apart from the hooks (which callers may
    replace): a cache that must forget what a batch changed, once it is durable."""

    def written(self, conn: Connection, first: int, entries: Sequence[NewEntry]) -> None:
        """The batch is written (entries ``first``...) in its open transaction, after the
        hooks; what is noted here replaces what an uncommitted earlier batch left."""

    def committed(self) -> None:
        """The batch written last is committed; called before any writer is answered.
        It must not raise: the batch is durable whatever happens here."""
