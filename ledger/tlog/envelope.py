"""Entry envelopes: the exact leaf input bytes hashed into the tree.

The envelope is the RFC 8785 form of ``{"v","index","prev","kind","subject","time",
"actor","payload_hash"}``. Its key order is fixed, so it is written with one
bytes format instead of a generic canonicalizer (this is the append hot path),
and read back with one regular expression that accepts only the canonical form.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ledger.errors import InvalidInput
from ledger.tlog.jcs import encode_string

ZERO_HASH = bytes(32)
ENVELOPE_VERSION = 1
SALT_SIZE = 16  # random bytes hashed in front of each payload, so a redacted one stays hidden
REDACTION_KIND = "entry.redacted"  # the kind whose entry removes an earlier entry's payload

KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
TIME_PATTERN = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})\.(?P<ms>[0-9]{3})Z"
)
MAX_LABEL_CHARS = 512
_LABEL_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_INDEX = 2**53 - 1  # I-JSON: indices must stay exact as JSON numbers

_sha256 = hashlib.sha256
_b64 = base64.b64encode

ENVELOPE_FORMAT = (
    b'{"actor":%s,"index":%d,"kind":"%s","payload_hash":"%s","prev":"%s",'
    b'"subject":%s,"time":"%s","v":1}'
)

# A canonical JSON string: no raw controls, only the escapes JCS emits.
_JSTR = rb'"(?:[^"\\\x00-\x1f]|\\["\\bfnrt]|\\u00(?:0[0-7]|0b|0e|0f|1[0-9a-f]))*"'
_B64_HASH = rb"[A-Za-z0-9+/]{43}="
_ENVELOPE_RE = re.compile(
    rb'\{"actor":(?P<actor>' + _JSTR + rb'),"index":(?P<index>0|[1-9][0-9]{0,15}),'
    rb'"kind":"(?P<kind>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)",'
    rb'"payload_hash":"(?P<payload_hash>' + _B64_HASH + rb')",'
    rb'"prev":"(?P<prev>' + _B64_HASH + rb')",'
    rb'"subject":(?P<subject>' + _JSTR + rb"),"
    rb'"time":"(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z)",'
    rb'"v":1\}'
)
match_envelope = _ENVELOPE_RE.fullmatch


class EnvelopeError(InvalidInput):
    """An envelope field is malformed, or stored leaf input is not a canonical envelope."""


def format_time(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix."""
    m = moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def now_time() -> str:
    return format_time(datetime.now(UTC))


def check_time(value: str) -> str:
    match = TIME_PATTERN.fullmatch(value)
    if not match:
        raise EnvelopeError(
            f"time {value!r} must be UTC with milliseconds, like 2026-11-22T10:00:00.000Z"
        )
    try:
        datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
        )
    except ValueError as exc:
        raise EnvelopeError(f"time {value!r} is not a real date and time") from exc
    return value


def check_kind(kind: str) -> str:
    if not KIND_PATTERN.fullmatch(kind):
        raise EnvelopeError(f"kind {kind!r} must look like 'family.event' in lower case")
    return kind


def check_label(name: str, value: str) -> str:
    """Subject and actor: non-empty NFC-free-form text without control characters."""
    if not value:
        raise EnvelopeError(f"{name} is empty")
    if len(value) > MAX_LABEL_CHARS:
        raise EnvelopeError(f"{name} is longer than {MAX_LABEL_CHARS} characters")
    if _LABEL_CONTROL.search(value):
        raise EnvelopeError(f"{name} contains a control character")
    encode_string(value)  # refuses lone surrogates
    return value


def payload_commitment(salt: bytes, payload: bytes) -> bytes:
    """base64(SHA-256(salt || canonical payload)), as it appears in the envelope."""
    return _b64(_sha256(salt + payload).digest())


def json_label(value: str) -> bytes:
    return encode_string(value).encode("utf-8")


class ChainItem(Protocol):
    """The fields of an entry that go into its envelope (``NewEntry`` has them)."""

    @property
    def kind(self) -> str: ...
    @property
    def subject_json(self) -> bytes: ...
    @property
    def actor_json(self) -> bytes: ...
    @property
    def time(self) -> str | None: ...
    @property
    def payload(self) -> bytes: ...


def encode_chain(
    items: Sequence[ChainItem],
    first_index: int,
    prev_leaf_hash: bytes,
    salts: bytes,
    default_time: str,
) -> tuple[list[bytes], list[bytes]]:
    """The envelopes of consecutive entries from ``first_index``, and their leaf hashes.

    Each envelope links to the leaf hash before it and commits to its payload
    with its ``SALT_SIZE`` bytes of ``salts``; an item without a time gets
    ``default_time``. This is the append hot path, so ``payload_commitment``
    and ``merkle.hash_leaf`` are inlined here; the unit tests check the result
    against RFC 8785 and both functions.
    """
    if len(salts) != SALT_SIZE * len(items):
        raise InvalidInput(f"{len(items)} entries need {SALT_SIZE * len(items)} bytes of salt")
    fmt = ENVELOPE_FORMAT
    sha = _sha256
    b64 = _b64
    now = default_time.encode()
    prev_b64 = b64(prev_leaf_hash)
    envelopes: list[bytes] = []
    leaf_hashes: list[bytes] = []
    index = first_index
    offset = 0
    for item in items:
        envelope = fmt % (
            item.actor_json,
            index,
            item.kind.encode(),
            b64(sha(salts[offset : offset + SALT_SIZE] + item.payload).digest()),
            prev_b64,
            item.subject_json,
            item.time.encode() if item.time else now,
        )
        leaf_hash = sha(b"\x00" + envelope).digest()
        prev_b64 = b64(leaf_hash)
        envelopes.append(envelope)
        leaf_hashes.append(leaf_hash)
        index += 1
        offset += SALT_SIZE
    return envelopes, leaf_hashes


@dataclass(frozen=True)
class Envelope:
    index: int
    prev: bytes
    kind: str
    subject: str
    time: str
    actor: str
    payload_hash: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "v": ENVELOPE_VERSION,
            "index": self.index,
            "prev": base64.b64encode(self.prev).decode(),
            "kind": self.kind,
            "subject": self.subject,
            "time": self.time,
            "actor": self.actor,
            "payload_hash": base64.b64encode(self.payload_hash).decode(),
        }


def parse_envelope(leaf_input: bytes) -> Envelope:
    """Parse stored leaf input; anything but the canonical envelope is refused."""
    match = match_envelope(leaf_input)
    if not match:
        raise EnvelopeError("leaf input is not a canonical version-1 envelope")
    try:
        leaf_input.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError("leaf input is not valid UTF-8") from exc
    if int(match["index"]) > MAX_INDEX:
        raise EnvelopeError(f"index {match['index'].decode()} exceeds 2^53-1")
    for name in ("prev", "payload_hash"):
        if base64.b64encode(base64.b64decode(match[name])) != match[name]:
            raise EnvelopeError(f"{name} is not canonical base64")
    return Envelope(
        index=int(match["index"]),
        prev=base64.b64decode(match["prev"]),
        kind=match["kind"].decode(),
        subject=json.loads(match["subject"]),
        time=match["time"].decode(),
        actor=json.loads(match["actor"]),
        payload_hash=base64.b64decode(match["payload_hash"]),
    )
