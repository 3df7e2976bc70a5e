"""Integers in paths and queries, accepted only in canonical form.

Litestar's own ``int`` conversion takes ``+1``, ``01``, Arabic-Indic digits and ``1e3``;
a log index has exactly one spelling, so every index and size is declared as text and
parsed here.
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from lookup_api.problems import bad_request, quoted

MAX_INDEX = 2**62  # far beyond any log; keeps every index inside a signed 64-bit column
FIRST_INDEX = 0  # entries count from 0
SMALLEST_TREE = 1  # a proof or a range needs at least one entry
_CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_DECIMAL_DOC = "a decimal integer in ASCII digits, without sign or leading zeros"


def parse_decimal(value: str, field: str, minimum: int = FIRST_INDEX) -> int:
    """``value`` as an integer in ``[minimum, MAX_INDEX]``, or a 400 naming ``field``."""
    if not (value.isascii() and _CANONICAL_DECIMAL.fullmatch(value)):
        raise bad_request(f"{field} must be {_DECIMAL_DOC}, got {quoted(value)}", field=field)
    number = int(value)
    if not minimum <= number <= MAX_INDEX:
        raise bad_request(
            f"{field} must be between {minimum} and {MAX_INDEX}, got {number}", field=field
        )
    return number


def parse_optional_decimal(value: str | None, field: str, minimum: int = FIRST_INDEX) -> int | None:
    return None if value is None else parse_decimal(value, field, minimum)


def _integer(minimum: int) -> dict[str, object]:
    # Declared as text so that Litestar does not convert it leniently; documented as
    # what it is, an integer in a range, so clients and generators send the one spelling.
    # ``oneOf: None`` drops the ``string | null`` Litestar derives for optional ones.
    return {"type": "integer", "minimum": minimum, "maximum": MAX_INDEX, "oneOf": None}


IndexPath = Annotated[
    str, PathParameter(description=_DECIMAL_DOC, schema_extra=_integer(FIRST_INDEX))
]
TreeSizePath = Annotated[
    str, PathParameter(description=_DECIMAL_DOC, schema_extra=_integer(FIRST_INDEX))
]
SizePath = Annotated[
    str, PathParameter(description=_DECIMAL_DOC, schema_extra=_integer(SMALLEST_TREE))
]
OptionalIndexQuery = Annotated[
    str | None, QueryParameter(description=_DECIMAL_DOC, schema_extra=_integer(FIRST_INDEX))
]
SizeQuery = Annotated[
    str, QueryParameter(description=_DECIMAL_DOC, schema_extra=_integer(SMALLEST_TREE))
]
OptionalSizeQuery = Annotated[
    str | None, QueryParameter(description=_DECIMAL_DOC, schema_extra=_integer(SMALLEST_TREE))
]
