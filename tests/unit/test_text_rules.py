"""What no text field may hold: invisible-only text, bidirectional controls, invisible format
characters and control characters (line feeds and tabs only in free text, LongText)."""

from __future__ import annotations

import pytest

from ledger.records.kinds import RECORD_TYPES, RecordError, parse_record
from tests.unit.test_kinds import VALID, valid

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
BIDI += ["\u200e", "\u200f", "\u061c"]
INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u2028", "\u2029", "\U000e0041"]


def refused(kind: str, **changes: object) -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse_record(kind, valid(kind, **changes))
    return caught.value


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200b\u200c\u200d", "\u3164", "\u2800\u2800", "\ufe0f", "\u3000\u200d"],
    ids=["zwsp", "joiners", "hangul-filler", "braille-blank", "variation-selector", "ideo-space"],
)
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("enterprise.filed", "name"),
        ("enterprise.filed", "address"),
        ("product.filed", "name"),
        ("enterprise.revoked", "reason"),
        ("complaint.received", "summary"),
        ("violation.recorded", "case_no"),
    ],
)
def test_text_with_no_visible_character_is_refused_naming_the_field(
    kind: str, field: str, text: str
) -> None:
    err = refused(kind, **{field: text})
    assert err.field == field
    assert "visible" in err.reason or "invisible" in err.reason or "blank" in err.reason


@pytest.mark.parametrize("char", BIDI, ids=[f"U+{ord(c):04X}" for c in BIDI])
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("enterprise.filed", "name"),
        ("enterprise.amended", "name"),
        ("enterprise.filed", "address"),
        ("product.filed", "name"),
        ("violation.recorded", "note"),
        ("blacklist.noticed", "basis"),
    ],
)
def test_bidirectional_controls_are_refused_anywhere_in_a_text(
    kind: str, field: str, char: str
) -> None:
    err = refused(kind, **{field: f"深圳{char}示例贸易有限公司"})
    assert err.field == field
    assert f"bidirectional control character (U+{ord(char):04X})" in err.reason


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_invisible_format_characters_inside_a_name_are_refused(char: str) -> None:
    err = refused("enterprise.filed", name=f"华为{char}科技有限公司")
    assert err.field == "name"
    assert f"invisible character (U+{ord(char):04X})" in err.reason


def test_list_items_are_checked_too() -> None:
    err = refused("inspection.result", items=["标签", "\u202eabc"])
    assert err.field == "items[1]"


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\x00", "\x1b", "\x85"])
def test_control_characters_are_refused_in_names(char: str) -> None:
    err = refused("enterprise.filed", name=f"ACME{char}Ltd")
    assert err.field == "name" and "control character" in err.reason


def test_free_text_may_hold_line_feeds_and_tabs_and_nothing_else_of_c0() -> None:
    note = "第一行\n第\t二行"
    parsed = parse_record("violation.recorded", valid("violation.recorded", note=note))
    assert parsed.record.note == note  # type: ignore[attr-defined]
    for char in ("\r", "\x0b", "\x00", "\x85"):
        assert refused("violation.recorded", note=f"a{char}b").field == "note"
    assert refused("enterprise.revoked", reason="a\u2028b").field == "reason"


@pytest.mark.parametrize(
    "text",
    [
        "深圳市示例进出口贸易有限公司",
        "Café Zürich AG",
        "👨\u200d👩\u200d👧 family",
        "مرحبا\u200c",
        "A\u00a0B",
    ],
)
def test_ordinary_text_with_joiners_and_accents_is_kept(text: str) -> None:
    parsed = parse_record("enterprise.filed", valid("enterprise.filed", name=text))
    assert parsed.record.name == text  # type: ignore[attr-defined]


def test_every_kind_still_parses_its_sample() -> None:
    for kind in RECORD_TYPES:
        parse_record(kind, VALID[kind])
