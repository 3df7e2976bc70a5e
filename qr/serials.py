"""Serial numbers of traceability codes: random, Crockford base32, with a check character.

A serial is 12 random symbols (60 bits from ``secrets``) and one check character, 13
symbols of Crockford's alphabet (``0-9 A-Z`` without ``I L O U``), every one within the
GS1 AI 21 character set and unreserved in URLs. The check character makes the weighted
sum of the 13 symbol values zero in the field GF(32), position ``i`` weighted by
``α^(12-i)`` (``α`` a generator, so the 13 weights are distinct and non-zero): a changed
symbol alters the sum by ``w·(a⊕b) ≠ 0`` and two swapped symbols by
``(w_i⊕w_j)·(a⊕b) ≠ 0``, so every single-symbol substitution and every transposition,
adjacent or not, is caught (ISO/IEC 7064 MOD 33,32, used before, missed about 0.2 % of
adjacent transpositions). A mistyped serial is thus told apart from a forged one: a
forger can compute a check character, but a typo breaks it. The check is for typing,
never for authenticity: only the issued list says a code is genuine.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable

from ledger.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_SYMBOLS = 12
RANDOM_BITS = RANDOM_SYMBOLS * 5
SERIAL_LENGTH = RANDOM_SYMBOLS + 1
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
# What people type for a symbol, as Crockford's decoding rules read it.
_READ_AS = {"I": "1", "L": "1", "O": "0"}
# RFC 4648 base32 symbols, value for value, to Crockford's: b32encode does the bit work in C.
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


class SerialError(InvalidInput):
    """A serial is not one this service could have issued; the message says why."""


class MalformedSerial(SerialError):
    """Wrong length or a character outside the alphabet."""


class MistypedSerial(SerialError):
    """Well-formed, but its check character does not match: a typing or reading error."""


def _field_tables() -> tuple[list[int], list[int]]:
    """Antilogarithms and logarithms of GF(32) = GF(2)[x] / (x^5 + x^2 + 1), generator x."""
    exp, log = [0] * 62, [0] * 32
    value = 1
    for power in range(31):
        exp[power] = exp[power + 31] = value
        log[value] = power
        value <<= 1
        if value & 32:
            value ^= 0b100101
    return exp, log


def _weighted_values() -> tuple[dict[str, int], ...]:
    """Per position, each symbol's value times the position's weight ``α^(12-i)``."""
    exp, log = _field_tables()
    return tuple(
        {
            symbol: 0 if value == 0 else exp[log[value] + SERIAL_LENGTH - 1 - position]
            for symbol, value in _VALUE.items()
        }
        for position in range(SERIAL_LENGTH)
    )


_WEIGHTED = _weighted_values()


def _syndrome(symbols: str) -> int:
    """The weighted GF(32) sum of ``symbols`` from position 0; zero for a whole valid serial."""
    total = 0
    for weighted, symbol in zip(_WEIGHTED, symbols, strict=False):
        total ^= weighted[symbol]
    return total


def check_character(body: str) -> str:
    """The check symbol of a serial's 12-symbol ``body`` (symbols of ALPHABET).

    The check position has weight 1, so the symbol whose value is the body's sum makes
    the whole serial sum to zero.
    """
    return ALPHABET[_syndrome(body)]


def has_valid_check(serial: str) -> bool:
    return len(serial) == SERIAL_LENGTH and _syndrome(serial) == 0


def new_serials(count: int) -> list[str]:
    """``count`` distinct new serials, each with RANDOM_BITS bits from ``secrets``."""
    found: set[str] = set()
    while len(found) < count:
        need = count - len(found)
        pairs = (need + 1) // 2
        # 15 random bytes are 24 symbols: two serials' bodies, without padding.
        text = base64.b32encode(secrets.token_bytes(15 * pairs)).translate(_FROM_RFC4648)
        bodies = text.decode("ascii")
        for start in range(0, RANDOM_SYMBOLS * need, RANDOM_SYMBOLS):
            body = bodies[start : start + RANDOM_SYMBOLS]
            found.add(body + check_character(body))
    return list(found)


def parse_serial(text: str) -> str:
    """``text`` as an issued serial would be written, or MalformedSerial / MistypedSerial.

    Lower case and the look-alike letters I, L and O are read as Crockford reads them,
    so a serial read aloud or typed from a label still finds its code.
    """
    if len(text) != SERIAL_LENGTH:
        raise MalformedSerial(
            f"serial must be {SERIAL_LENGTH} characters, got {len(text)}"
            if len(text) < 100
            else "serial is far too long"
        )
    serial = "".join(_READ_AS.get(c, c) for c in text.upper())
    bad = next((c for c in serial if c not in _VALUE), None)
    if bad is not None:
        raise MalformedSerial(
            f"serial holds {bad!r}, outside the code alphabet 0-9 A-Z (no I, L, O or U)"
        )
    if not has_valid_check(serial):
        raise MistypedSerial(
            f"serial {serial} fails its check character: it was mistyped or misread"
        )
    return serial


def is_serial(text: str) -> bool:
    """True when ``text`` is exactly a well-formed serial with a valid check character."""
    try:
        return parse_serial(text) == text
    except SerialError:
        return False


def sorted_serials(serials: Iterable[str]) -> list[str]:
    """Serials in the order their Merkle tree lists them (byte order of their ASCII)."""
    return sorted(serials)
