"""Untrusted JSON in, with limits a record never needs to exceed.

Python's and msgspec's decoders take any nesting until the interpreter's recursion limit
(a 2 KB body nested 1,000 deep raises ``RecursionError``), let the last of two equal keys
win (so a reviewer reading the first ``"kind"`` sees another record than the one stored),
and take strings of any length. ``loads`` refuses all three, before anything else reads
the document.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ledger.errors import InvalidInput

MAX_DEPTH = 16  # a record line is {"payload": {"batches": [{...}]}}: depth 4
MAX_STRING = 16_384  # characters of one JSON string as written (escapes included)
QUOTE_LIMIT = 40  # characters of a refused key an error quotes back

# A JSON string as written, or one bracket; everything else (numbers, literals, commas,
# colons, white space) is skipped by finditer.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonInputError(InvalidInput):
    """The document is not JSON, or breaks a limit; the message says which and where."""


def _quoted(text: str) -> str:
    return repr(text) if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]!r}…"


def _check_shape(text: str) -> None:
    # Fast path, all in C: too few brackets to nest too deep, too short to hold a long
    # string. Most records take it.
    if text.count("[") + text.count("{") <= MAX_DEPTH and len(text) <= MAX_STRING:
        return
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise JsonInputError(f"JSON nested deeper than {MAX_DEPTH} levels")
        elif token in ("]", "}"):
            depth -= 1
        elif len(token) - 2 > MAX_STRING:
            raise JsonInputError(
                f"a JSON string of {len(token) - 2:,} characters at offset {match.start()} "
                f"exceeds the limit of {MAX_STRING:,}"
            )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonInputError(f"duplicate key {_quoted(key)} in a JSON object")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise JsonInputError(f"not JSON: {name} is not a JSON number")


# One decoder for every call: json.loads with hooks builds a new one each time.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def loads(data: bytes | str) -> Any:
    """Decode ``data`` (UTF-8 when bytes) as JSON under the limits above."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not UTF-8 at byte {exc.start}") from exc
    _check_shape(text)
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise JsonInputError(f"not JSON: {exc.msg} at {where}") from exc
    except JsonInputError:
        raise
    except ValueError as exc:  # an integer too long for int(), for one
        raise JsonInputError(f"not JSON that can be read: {str(exc)[:80]}") from exc
