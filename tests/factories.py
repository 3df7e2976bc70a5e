"""Factories for test entries."""

from __future__ import annotations

import itertools
from typing import Any

from ledger.jcs import canonicalize
from ledger.log import NewEntry

_counter = itertools.count()


def payload(size: int = 200, **fields: Any) -> bytes:
    """A canonical payload of about ``size`` bytes."""
    body: dict[str, Any] = {"n": next(_counter), **fields}
    base = len(canonicalize(body))
    body["pad"] = "x" * max(0, size - base - 9)
    return canonicalize(body)


def entry(
    kind: str = "test.recorded",
    subject: str = "test:subject",
    size: int = 200,
    actor: str = "officer:test",
    **fields: Any,
) -> NewEntry:
    return NewEntry(kind, subject, payload(size, **fields), actor)


def redaction(target: int, reason: str = "court order") -> NewEntry:
    return NewEntry(
        "entry.redacted",
        f"entry:{target}",
        canonicalize({"index": target, "reason": reason}),
        "officer:test",
        redacts=target,
    )
