"""Factories for test entries."""

from __future__ import annotations

import itertools
from typing import Any

from ledger.store.entries import NewEntry
from ledger.tlog.jcs import canonicalize

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


def uscc(n: int, region: str = "91440300") -> str:
    """A valid unified social credit code, different for every ``n``."""
    from ledger.records.ids import org_code_check_character, uscc_check_character

    body = f"{n:08d}"
    first17 = region + body + org_code_check_character(body)
    return first17 + uscc_check_character(first17)


def enterprise_payload(n: int, **fields: Any) -> dict[str, Any]:
    """The payload of a valid enterprise.filed record for enterprise number ``n``."""
    return {
        "uscc": uscc(n),
        "name": f"测试进出口贸易有限公司{n}",
        "roles": ["importer"],
        "address": "深圳市前海",
        "country": "CN",
        "filed_on": "2024-01-01",
        **fields,
    }


def enterprise(n: int, **fields: Any) -> NewEntry:
    """A valid enterprise.filed record for enterprise number ``n``."""
    from ledger.records.entry import record_entry

    return record_entry("enterprise.filed", enterprise_payload(n, **fields), "officer:test")


def without_regrading(ledger: Any) -> None:
    """Leave out the credit hook, for tests of other paths whose entry counts it would
    change (each filing would add its first ``credit.graded``)."""
    from credit.regrade import Regrader

    ledger.hooks = [hook for hook in ledger.hooks if not isinstance(hook, Regrader)]
