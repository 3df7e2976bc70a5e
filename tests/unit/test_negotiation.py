"""Accept headers weighed as RFC 9110 §12.5.1 says: q-values, specificity, q=0 refuses."""

from __future__ import annotations

import pytest

from lookup_api.negotiation import (
    MediaRange,
    parse_accept,
    preferred_language,
    preferred_media_type,
)

OFFERED = ("text/html", "application/json", "application/linkset+json")


def test_ranges_are_read_with_their_q_values_and_unreadable_ones_skipped() -> None:
    ranges = parse_accept(
        "Application/JSON;charset=utf-8;q=0.5, text/*;q=0, */*;q=0.001, "
        "bad, a/b;q=1.5, c/d;q=-1, e/f;q=.5, */json, g/h;q=1.000"
    )
    assert ranges == [
        MediaRange("application", "json", 0.5),
        MediaRange("text", "*", 0.0),
        MediaRange("*", "*", 0.001),
        MediaRange("g", "h", 1.0),
    ]
    assert [r.specificity for r in ranges] == [2, 1, 0, 2]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "text/html"),  # no header: anything, the server's first
        ("", "text/html"),
        ("application/json", "application/json"),
        ("application/json;q=0, text/html", "text/html"),
        ("application/json;q=0", None),
        ("application/json;q=0, */*", "text/html"),
        ("*/*, application/json;q=0, text/html;q=0", "application/linkset+json"),
        ("text/*;q=0.5, application/*;q=0.6", "application/json"),
        ("application/*, application/linkset+json;q=0", "application/json"),
        ("application/linkset+json, application/json", "application/json"),  # server order
        ("application/json, */*", "application/json"),  # the named type beats a wildcard
        ("application/json;q=0.3, */*;q=0.3", "application/json"),
        ("*/*;q=0.5, text/html;q=0.1", "application/json"),
        ("image/png", None),
        ("application/json;q=2", None),  # unreadable, so nothing acceptable
        (",,;,", None),
    ],
)
def test_the_preferred_offered_type(accept: str | None, chosen: str | None) -> None:
    assert preferred_media_type(accept, OFFERED) == chosen


def test_a_huge_header_is_read_only_so_far() -> None:
    accept = ", ".join(["image/png"] * 10_000 + ["application/json"])
    assert preferred_media_type(accept, OFFERED) is None


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, None),
        ("", None),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en;q=0, zh", "zh"),
        ("en;q=0.5, zh;q=0.9", "zh"),
        ("fr, en;q=0.3", "en"),
        ("fr", None),
        ("*", "zh"),
        ("en;q=0, *", "zh"),
        ("zh;q=0, *;q=0.5", "en"),
        ("en, zh", "en"),
        ("zh, en", "zh"),
        ("en;q=inf, zh;q=0.1", "zh"),
        ("en;q=1e400", None),
        ("en-;q=0.5", "en"),
    ],
)
def test_the_accept_language_header_chooses(header: str | None, chosen: str | None) -> None:
    assert preferred_language(header, ("zh", "en")) == chosen
