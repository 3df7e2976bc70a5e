"""The strict JSON reader: depth, duplicate keys and string length, on both of its paths."""

from __future__ import annotations

import json

import pytest

from ledger.records.json_input import MAX_DEPTH, MAX_STRING, JsonInputError, loads


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_up_to_the_limit_is_read_and_one_more_is_refused() -> None:
    assert loads(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(JsonInputError, match=f"deeper than {MAX_DEPTH}"):
        loads(nested(MAX_DEPTH + 1))
    with pytest.raises(JsonInputError, match="deeper than"):
        loads(nested(100_000))  # far past the interpreter's recursion limit


def test_many_brackets_side_by_side_are_not_depth() -> None:
    wide = json.dumps([{"a": [1]} for _ in range(500)])
    assert len(loads(wide)) == 500


def test_brackets_and_quotes_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 100 + '\\"{' * 50, "b": ["x"]})
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": 1, "kind": 2}',
        '{"a": {"k": 1, "k": 2}}',
        '[{"x": 1}, {"y": 1, "y": 1}]',
        '{"name": 1, "\\u006eame": 2}',
    ],
)
def test_duplicate_keys_are_refused_at_every_level(text: str) -> None:
    with pytest.raises(JsonInputError, match="duplicate key"):
        loads(text)


def test_a_duplicate_key_is_quoted_by_a_short_prefix() -> None:
    key = "k" * 1_000_000
    with pytest.raises(JsonInputError) as caught:
        loads(json.dumps({}).replace("{}", f'{{"{key}": 1, "{key}": 2}}'))
    assert len(str(caught.value)) < 200


def test_strings_up_to_the_limit_are_read_and_longer_are_refused() -> None:
    assert loads(json.dumps({"a": "x" * MAX_STRING}))["a"] == "x" * MAX_STRING
    with pytest.raises(JsonInputError, match="exceeds the limit"):
        loads(json.dumps({"a": "x" * (MAX_STRING + 1)}))


@pytest.mark.parametrize(
    "data", [b"{", b"\xff", b'{"a": 1,}', b"NaN", b"[-Infinity]", b"", b"1" * 5000]
)
def test_what_is_not_json_says_so(data: bytes) -> None:
    with pytest.raises(JsonInputError, match=r"not JSON|not UTF-8"):
        loads(data)
