"""The dashboard's SVG charts: well-formed XML, marks proportional to the data, empty data
drawn as an empty chart, every text from data escaped, an accessible name."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookup_api.routes.dashboard.charts import (
    HEIGHT,
    Labels,
    Series,
    bar_chart,
    count_top,
    line_chart,
    share_top,
)

SVG = "{http://www.w3.org/2000/svg}"
LABELS = Labels("Grades <b>", "x & axis", 'y "axis"', "nothing yet")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def bars_of(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]


def test_a_bar_chart_is_an_accessible_image_named_by_its_title() -> None:
    root = parse(bar_chart([("A", 3), ("B", 1)], LABELS, "g"))
    assert root.get("role") == "img"
    title_id, desc_id = str(root.get("aria-labelledby")).split()
    titles = {e.get("id"): e.text for e in root if e.tag in (f"{SVG}title", f"{SVG}desc")}
    assert titles[title_id] == "Grades <b>"
    assert titles[desc_id] == "A: 3; B: 1"


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=30))
def test_bar_heights_are_proportional_to_the_counts(counts: list[int]) -> None:
    root = parse(bar_chart([(f"m{i}", n) for i, n in enumerate(counts)], LABELS, "v"))
    bars = bars_of(root)
    assert [int(str(b.get("data-value"))) for b in bars] == counts
    heights = [float(str(b.get("height"))) for b in bars]
    top = count_top(max(counts))
    plot = HEIGHT - 52 - 64
    for count, height in zip(counts, heights, strict=True):
        assert height == pytest.approx(plot * count / top, abs=0.01)
    # Every bar stands on the x axis.
    for bar, height in zip(bars, heights, strict=True):
        assert float(str(bar.get("y"))) + height == pytest.approx(HEIGHT - 64, abs=0.01)


def test_the_count_axis_has_whole_steps_and_reaches_the_largest_count() -> None:
    for largest in range(0, 2000, 7):
        top = count_top(largest)
        assert top >= largest and top % 4 == 0
        assert top // 4 in {s * 10**k for s in (1, 2, 5) for k in range(5)}
    assert count_top(2) == 4
    assert count_top(37) == 40


def test_empty_data_is_an_empty_chart_that_says_so() -> None:
    for svg in (
        bar_chart([], LABELS, "e"),
        bar_chart([("A", 0), ("B", 0)], LABELS, "z"),
        line_chart([], [], LABELS, "l"),
        line_chart(["2026-01"], [Series("CNSZX", [None])], LABELS, "n"),
    ):
        root = parse(svg)
        empty = [e for e in root.iter(f"{SVG}text") if e.get("class") == "empty"]
        assert [e.text for e in empty] == ["nothing yet"]
        assert not [e for e in root.iter() if e.get("class") in ("point", "line")]
        assert all(float(str(b.get("height"))) == 0 for b in bars_of(root))


def test_every_text_from_data_is_escaped() -> None:
    evil = '</text><script>alert("x")</script>&'
    for svg in (
        bar_chart([(evil, 2)], Labels(evil, evil, evil, evil), "b"),
        line_chart([evil], [Series(evil, [0.5])], Labels(evil, evil, evil, evil), "l"),
    ):
        root = parse(svg)  # still well-formed
        assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
        texts = [e.text for e in root.iter() if e.text and "alert" in e.text]
        assert texts and all(evil in t for t in texts)


def test_a_line_chart_draws_shares_with_gaps_and_a_legend() -> None:
    months = ["2026-01", "2026-02", "2026-03", "2026-04"]
    root = parse(
        line_chart(
            months,
            [Series("CNSZX", [0.1, None, 0.3, 0.2]), Series("CNSHA", [0.0, 0.05, 0.0, 0.0])],
            LABELS,
            "p",
        )
    )
    points = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "point"]
    assert [float(str(p.get("data-value"))) for p in points] == [0.1, 0.3, 0.2, 0.0, 0.05, 0, 0]
    top = share_top(0.3)
    assert top == 0.4
    plot = HEIGHT - 52 - 64
    for p in points:
        value = float(str(p.get("data-value")))
        assert float(str(p.get("cy"))) == pytest.approx(HEIGHT - 64 - plot * value / top, abs=0.01)
    # The gap in CNSZX splits its line: one run of one point (not drawn) and one of two.
    lines = [e for e in root.iter(f"{SVG}polyline") if e.get("class") == "line"]
    assert [len(str(line.get("points")).split()) for line in lines] == [2, 4]
    legend = [e for e in root.iter(f"{SVG}g") if e.get("class") == "legend"]
    assert ["".join(g.itertext()) for g in legend] == ["CNSZX", "CNSHA"]
    ticks = [e.text for e in root.iter(f"{SVG}text") if e.text and e.text.endswith("%")]
    assert ticks == ["0%", "10%", "20%", "30%", "40%"]
