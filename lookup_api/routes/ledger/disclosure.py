"""Whose payloads a caller sees on the ledger routes (the rules per kind: credit.disclosure).

Officers and auditors see every payload and salt; an enterprise key its own entries (the
subject is its USCC, or a ``*uscc`` field of the payload names it) and what the public
sees; everyone else what the active policy discloses today. Envelopes, leaf hashes and
proofs are everyone's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection

from credit.catalogue import Policy, load_policy
from credit.disclosure import DisclosureFacts, disclosure_facts, withheld_reason
from ledger.records.kinds import CHINA
from ledger.store.entries import StoredEntry
from ledger.tlog.envelope import Envelope, parse_envelope
from lookup_api.auth import ApiKey

SEE_EVERYTHING = frozenset({"officer", "auditor"})


@dataclass(frozen=True)
class Shown:
    """One entry as a caller may see it."""

    entry: StoredEntry
    envelope: Envelope
    payload: Any  # the decoded payload; None when redacted or withheld
    withheld: str | None  # why the payload is withheld from this caller


_decode = msgspec.json.Decoder().decode  # stored payloads are canonical JSON


def today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()


def _own(key: ApiKey, envelope: Envelope, payload: Any) -> bool:
    if key.uscc is None:
        return False
    if envelope.subject == f"uscc:{key.uscc}":
        return True
    return isinstance(payload, dict) and any(
        name.endswith("uscc") and value == key.uscc for name, value in payload.items()
    )


def _sees(key: ApiKey | None, envelope: Envelope, payload: Any) -> bool:
    if key is None:
        return False
    return key.role in SEE_EVERYTHING or (key.role == "enterprise" and _own(key, envelope, payload))


def shown_entries(
    conn: Connection,
    entries: Sequence[StoredEntry],
    key: ApiKey | None,
    today: dt.date | None = None,
    policy: Policy | None = None,
) -> list[Shown]:
    """``entries`` as ``key`` (None: the public) may see them today."""
    decoded = [
        (e, parse_envelope(e.leaf_input), None if e.payload is None else _decode(e.payload))
        for e in entries
    ]
    facts = DisclosureFacts()
    if key is None or key.role not in SEE_EVERYTHING:
        facts = disclosure_facts(
            conn, [(env.index, env.kind, p) for _, env, p in decoded if p is not None]
        )
    day = today or today_in_china()
    active = policy or load_policy()
    shown: list[Shown] = []
    for entry, envelope, payload in decoded:
        reason = None
        if payload is not None and not _sees(key, envelope, payload):
            reason = withheld_reason(
                envelope.kind, envelope.index, payload, facts, today=day, policy=active
            )
        shown.append(Shown(entry, envelope, None if reason else payload, reason))
    return shown
