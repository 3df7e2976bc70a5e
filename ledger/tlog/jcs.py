"""RFC 8785 JSON Canonicalization Scheme (JCS).

``canonicalize`` accepts the JSON data model (dict with str keys, list/tuple, str,
int, float, bool, None) and returns the canonical UTF-8 bytes. Integers must be
exactly representable as IEEE 754 doubles (I-JSON), strings must be valid Unicode.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from ledger.errors import InvalidInput

try:  # msgspec's encoder is the fast path; the verifier also runs without it
    import msgspec
except ImportError:  # pragma: no cover - exercised by the stdlib-only auditor test
    msgspec = None  # type: ignore[assignment]

MAX_SAFE_INTEGER = 2**53 - 1

# json's C string encoder escapes exactly as JCS requires: ", \, the short forms
# \b \t \n \f \r, other C0 controls as lowercase \u00xx, everything else verbatim.
_encode_str: Any = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
)
_fast_encode = msgspec.json.Encoder(order="sorted").encode if msgspec is not None else None


class CanonicalizationError(InvalidInput):
    """The value is outside the JSON data model that JCS can canonicalize."""


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def format_number(value: float) -> str:
    """ECMAScript Number::toString, as RFC 8785 §3.2.2.3 requires."""
    if math.isnan(value) or math.isinf(value):
        raise CanonicalizationError(f"{value!r} is not a JSON number")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    if k == 1:
        return sign + digits + exp
    return sign + digits[0] + "." + digits[1:] + exp


def _check_str(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(f"{where}: not valid Unicode (lone surrogate)") from exc


def _encode(value: Any, out: list[str], where: str) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        _check_str(value, where)
        out.append(_encode_str(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"{where}: integer {value} exceeds 2^53-1")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalizationError(f"{where}: object key {key!r} is not a string")
            _check_str(key, where)
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_encode_str(key))
            out.append(":")
            _encode(value[key], out, f"{where}.{key}")
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, f"{where}[{i}]")
        out.append("]")
    else:
        raise CanonicalizationError(f"{where}: {type(value).__name__} is not a JSON value")


def _is_fast_safe(value: Any) -> bool:
    """True when msgspec's sorted encoding equals JCS: ASCII keys, no floats, safe ints."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii() or not _is_fast_safe(item):
                return False
        return True
    if isinstance(value, list | tuple):
        return all(_is_fast_safe(item) for item in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return abs(value) <= MAX_SAFE_INTEGER
    return False


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical form of ``value`` as UTF-8 bytes."""
    if _fast_encode is not None and _is_fast_safe(value):
        try:
            result: bytes = _fast_encode(value)
            return result
        except (UnicodeEncodeError, msgspec.EncodeError):
            pass  # fall through for the precise error message
    out: list[str] = []
    _encode(value, out, "$")
    return "".join(out).encode("utf-8")


def encode_string(value: str) -> str:
    """One JSON string in canonical form (quotes included)."""
    _check_str(value, "string")
    result: str = _encode_str(value)
    return result
