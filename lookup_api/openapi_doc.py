"""What the OpenAPI document says about values: identifier formats and patterns.

The record kinds validate with Python regular expressions ending in ``\\Z`` (``$``
would let a trailing newline through); OpenAPI patterns are ECMA-262, where ``$``
without the multiline flag already means the end of the input. The document is
written in the dialect its readers speak.
"""

from __future__ import annotations

import re
from typing import Any

from ledger.records.ids import USCC_ALPHABET

USCC_FORMAT = "uscc"  # GB 32100, both check characters valid
GTIN_FORMAT = "gtin"  # GS1 GTIN-8, -12, -13 or -14 with its mod-10 check digit

_alphabet = re.escape(USCC_ALPHABET + USCC_ALPHABET.lower())
USCC_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": USCC_FORMAT,
    "pattern": f"^[{_alphabet}]{{18}}$",
}
GTIN_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": GTIN_FORMAT,
    "pattern": "^(?:[0-9]{8}|[0-9]{12,14})$",
}


def ecma_patterns(schema: Any) -> Any:
    """``schema`` with every Python ``\\Z`` anchor in a ``pattern`` written as ``$``."""
    if isinstance(schema, dict):
        return {
            key: value.replace(r"\Z", "$")
            if key == "pattern" and isinstance(value, str)
            else ecma_patterns(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [ecma_patterns(item) for item in schema]
    return schema
