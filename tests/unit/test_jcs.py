"""RFC 8785 (JCS) canonicalization: differential against the rfc8785 package, RFC examples,
and refusals of values outside the I-JSON data model."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog.jcs import CanonicalizationError, canonicalize, encode_string, format_number
from tests.strategies import NO_SURROGATES

MAX_SAFE = 2**53 - 1

# --- strategies ------------------------------------------------------------------

# Every Unicode scalar value (no surrogates), weighted towards the ranges where UTF-16
# code-unit order differs from code-point order: U+E000..U+FFFF sort after non-BMP
# characters (whose surrogates are D800..DFFF) in UTF-16 but before them by code point.
any_char = st.characters(exclude_categories=NO_SURROGATES)
tricky_char = st.one_of(
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF, exclude_categories=NO_SURROGATES),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
    st.characters(min_codepoint=0x00, max_codepoint=0x20),
    st.sampled_from(['"', "\\", "/", "\x7f", "\u2028", "\u2029", "\ufeff", "a", "A", "_"]),
)
keys = st.text(st.one_of(any_char, tricky_char), max_size=6)
strings = st.text(st.one_of(any_char, tricky_char), max_size=12)
safe_ints = st.integers(-MAX_SAFE, MAX_SAFE)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), safe_ints, finite_floats, strings)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=6),
    ),
    max_leaves=25,
)


# --- differential ----------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_matches_rfc8785_package(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, scalars, min_size=2, max_size=12))
def test_object_keys_sorted_by_utf16_code_units(value: dict[str, Any]) -> None:
    out = canonicalize(value)
    assert out == rfc8785.dumps(value)
    # Independent statement of the rule: parse back and check the key order.
    parsed = json.loads(out, object_pairs_hook=lambda pairs: [k for k, _ in pairs])
    assert parsed == sorted(value, key=lambda k: k.encode("utf-16-be"))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(codec="ascii"), max_size=5),
        st.one_of(
            st.none(), st.booleans(), safe_ints, st.text(st.characters(codec="ascii"), max_size=8)
        ),
        max_size=8,
    )
)
def test_ascii_only_documents_match_rfc8785(value: dict[str, Any]) -> None:
    # ASCII keys, no floats: the shape most envelopes and payloads have.
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=400, deadline=None)
@given(finite_floats)
def test_numbers_match_rfc8785_and_round_trip(value: float) -> None:
    text = format_number(value)
    assert text.encode() == rfc8785.dumps(value)
    assert canonicalize(value) == text.encode()
    assert float(text) == value  # shortest form still identifies the same double


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_output_is_json_for_the_same_value(value: Any) -> None:
    out = canonicalize(value)
    # Numbers are read back as doubles, as JCS itself treats every number.
    parsed = json.loads(out.decode("utf-8"), parse_int=float)
    assert parsed == value
    assert canonicalize(parsed) == out  # idempotent


# --- RFC 8785 examples -------------------------------------------------------------

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = {
    "0000000000000000": "0",
    "8000000000000000": "0",
    "0000000000000001": "5e-324",
    "8000000000000001": "-5e-324",
    "7fefffffffffffff": "1.7976931348623157e+308",
    "ffefffffffffffff": "-1.7976931348623157e+308",
    "4340000000000000": "9007199254740992",
    "c340000000000000": "-9007199254740992",
    "4430000000000000": "295147905179352830000",
    "44b52d02c7e14af5": "9.999999999999997e+22",
    "44b52d02c7e14af6": "1e+23",
    "44b52d02c7e14af7": "1.0000000000000001e+23",
    "444b1ae4d6e2ef4e": "999999999999999700000",
    "444b1ae4d6e2ef4f": "999999999999999900000",
    "444b1ae4d6e2ef50": "1e+21",
    "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
    "3eb0c6f7a0b5ed8d": "0.000001",
    "41b3de4355555553": "333333333.3333332",
    "41b3de4355555554": "333333333.33333325",
    "41b3de4355555555": "333333333.3333333",
    "41b3de4355555556": "333333333.3333334",
    "41b3de4355555557": "333333333.33333343",
    "becbf647612f3696": "-0.0000033333333333333333",
    "43143ff3c1cb0959": "1424953923781206.2",
}


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B.items())
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == expected
    assert canonicalize([value]) == f"[{expected}]".encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (0.000001, "0.000001"),
        (-0.0, "0"),
        (0.0, "0"),
        (123456789012345680000.0, "123456789012345680000"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (100.0, "100"),
        (123e-20, "1.23e-18"),
        (4.5e15, "4500000000000000"),
    ],
)
def test_number_serialization_examples(value: float, expected: str) -> None:
    assert format_number(value) == expected
    assert canonicalize(value) == expected.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-1, b"-1"),
        (MAX_SAFE, b"9007199254740991"),
        (-MAX_SAFE, b"-9007199254740991"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ([], b"[]"),
        ({}, b"{}"),
        ((1, "a"), b'[1,"a"]'),
        ([True, 1, 1.0], b"[true,1,1]"),
    ],
)
def test_scalar_and_container_examples(value: Any, expected: bytes) -> None:
    assert canonicalize(value) == expected


def test_rfc8785_sorting_example() -> None:
    # RFC 8785 §3.2.3.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonicalize(value) == expected.encode("utf-8")


def test_non_bmp_key_sorts_before_private_use_key() -> None:
    # By code point U+E000 < U+1F600, but in UTF-16 D83D < E000.
    value = {"\ue000": 1, "\U0001f600": 2, "\uffff": 3, "\U00010000": 4, "\ud7ff": 5}
    assert canonicalize(value) == (
        '{"\ud7ff":5,"\U00010000":4,"\U0001f600":2,"\ue000":1,"\uffff":3}'.encode()
    )


def test_rfc8785_string_example() -> None:
    # RFC 8785 §3.2.2.2: only the mandatory escapes, lowercase hex, '/' and DEL verbatim.
    value = "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"
    assert canonicalize(value) == '"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'.encode()


@pytest.mark.parametrize("code", range(0x20))
def test_control_characters_are_escaped(code: int) -> None:
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    expected = short.get(code, f"\\u{code:04x}")
    assert canonicalize(chr(code)) == f'"{expected}"'.encode()
    assert canonicalize({"k": chr(code)}) == f'{{"k":"{expected}"}}'.encode()
    assert canonicalize({chr(code): 0}) == f'{{"{expected}":0}}'.encode()
    assert encode_string(chr(code)) == f'"{expected}"'


@pytest.mark.parametrize("text", ["\x7f", "\u2028", "\u2029", "/", "\ufeff", "\U0010ffff", "é"])
def test_other_characters_are_verbatim(text: str) -> None:
    assert canonicalize(text) == b'"' + text.encode("utf-8") + b'"'
    assert canonicalize({"a": text}) == b'{"a":"' + text.encode("utf-8") + b'"}'


# --- refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1, math.nan],
        {"a": math.inf},
        2**53,
        -(2**53),
        2**64,
        {"a": 2**53},
        [10**30],
        {1: "a"},
        {None: "a"},
        {(1, 2): "a"},
        {b"a": 1},
        {"a": {2: 3}},
        "\ud800",
        "a\udfff",
        ["\udc00"],
        {"\ud800": 1},
        {"a": "x\ud83d"},
        {"é\ud800": 1},
        {1, 2},
        frozenset(),
        b"bytes",
        bytearray(b"x"),
        {"a": {"b": b"c"}},
        [{1, 2}],
        object(),
        1 + 2j,
    ],
    ids=repr,
)
def test_refused_values(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_format_number_refuses_non_finite(value: float) -> None:
    with pytest.raises(CanonicalizationError):
        format_number(value)


def test_encode_string_refuses_lone_surrogate() -> None:
    with pytest.raises(CanonicalizationError):
        encode_string("\udbff")
    assert encode_string("\U0001f600") == '"\U0001f600"'
