"""Charts as SVG strings: pure functions of their data, no script and no external asset.

Every chart is an accessible image (``role="img"`` labelled by its ``<title>`` and
``<desc>``), draws its axes with labels, and says so when it has no data, so an empty
ledger gives an empty chart rather than an error. Every text that comes from data is
escaped: a port or an item id is never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 320
# Room around the plot for the axis labels, the ticks and the legend.
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 52, 64
TICKS = 4  # intervals on the y axis
# The top of a share axis: each divides into four readable steps (5 %, 10 %, 25 % ...).
SHARE_TOPS = (0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
PALETTE = ("#0b57d0", "#b00020", "#1b7f3b", "#8a4baf", "#e37400", "#00838f", "#5f6368")
FONT = 'font-family="system-ui,sans-serif"'


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a value per x label, None where there is no data."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Labels:
    """The words of a chart, in the page's language."""

    title: str
    x_axis: str
    y_axis: str
    empty: str  # shown instead of the plot when there is no data


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def count_top(value: int) -> int:
    """The top of a count axis: four equal whole steps of 1, 2 or 5 times a power of ten,
    the smallest that reaches ``value``."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power * TICKS >= value:
                return step * power * TICKS
        power *= 10


def share_top(value: float) -> float:
    """The top of a share axis (0 to 1) that reaches ``value``."""
    return next((top for top in SHARE_TOPS if value <= top), 1.0)


def _open(labels: Labels, description: str, chart_id: str) -> list[str]:
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'class="chart" id="{_text(chart_id)}">',
        f'<title id="{title_id}">{_text(labels.title)}</title>',
        f'<desc id="{desc_id}">{_text(description)}</desc>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15" '
        f'font-weight="700" {FONT}>{_text(labels.title)}</text>',
    ]


def _axes(labels: Labels, top: float, percent: bool) -> list[str]:
    """The two axes, their names and the y ticks from 0 to ``top``."""
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    parts = [
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>',
    ]
    for i in range(TICKS + 1):
        value = top * i / TICKS
        y = y0 - (y0 - y1) * i / TICKS
        shown = f"{value * 100:g}%" if percent else f"{value:g}"
        parts.append(
            f'<line x1="{x0 - 4}" y1="{_number(y)}" x2="{x1}" y2="{_number(y)}" '
            f'stroke="#ddd" class="tick"/>'
            f'<text x="{x0 - 6}" y="{_number(y + 4)}" text-anchor="end" font-size="11" '
            f"{FONT}>{shown}</text>"
        )
    parts.append(
        f'<text x="14" y="{(y0 + y1) / 2}" text-anchor="middle" font-size="12" {FONT} '
        f'transform="rotate(-90 14 {(y0 + y1) / 2})">{_text(labels.y_axis)}</text>'
    )
    parts.append(
        f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 4}" text-anchor="middle" font-size="12" '
        f"{FONT}>{_text(labels.x_axis)}</text>"
    )
    return parts


def _empty(labels: Labels) -> str:
    return (
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="14" '
        f'fill="#555" class="empty" {FONT}>{_text(labels.empty)}</text>'
    )


def _x_label(x: float, text: str, slanted: bool) -> str:
    y = HEIGHT - BOTTOM + 16
    turn = f' transform="rotate(-35 {_number(x)} {y})"' if slanted else ""
    anchor = "end" if slanted else "middle"
    return (
        f'<text x="{_number(x)}" y="{y}" text-anchor="{anchor}" font-size="11" {FONT}'
        f' class="x-label"{turn}>{_text(text)}</text>'
    )


def bar_chart(bars: Sequence[tuple[str, int]], labels: Labels, chart_id: str) -> str:
    """One bar per (label, count), heights proportional to the counts, each bar titled
    with its exact value (a screen reader and a mouse hover read it)."""
    total = sum(count for _, count in bars)
    description = "; ".join(f"{label}: {count}" for label, count in bars) or labels.empty
    parts = _open(labels, description, chart_id)
    top = count_top(max((count for _, count in bars), default=0))
    parts += _axes(labels, top, percent=False)
    if not bars or total == 0:
        parts.append(_empty(labels))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(bars), 1)
    slanted = len(bars) > 8
    for i, (label, count) in enumerate(bars):
        # Rounded as drawn before the top is placed, so the bar ends exactly on the axis.
        height = round(plot_height * count / top, 2)
        x = LEFT + slot * i + slot * 0.15
        y = HEIGHT - BOTTOM - height
        parts.append(
            f'<rect class="bar" x="{_number(x)}" y="{_number(y)}" width="{_number(slot * 0.7)}"'
            f' height="{_number(height)}" fill="{PALETTE[0]}" data-value="{count}">'
            f"<title>{_text(label)}: {count}</title></rect>"
        )
        if count and not slanted:
            parts.append(
                f'<text x="{_number(x + slot * 0.35)}" y="{_number(y - 3)}" '
                f'text-anchor="middle" font-size="11" {FONT}>{count}</text>'
            )
        parts.append(_x_label(LEFT + slot * (i + 0.5), label, slanted))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    x_labels: Sequence[str], series: Sequence[Series], labels: Labels, chart_id: str
) -> str:
    """Shares (0 to 1) over ``x_labels``, one line and legend entry per series; a gap
    where a series has no value. The y axis reaches the largest share (``share_top``)."""
    values = [v for s in series for v in s.values if v is not None]
    description = (
        "; ".join(
            f"{s.name}: "
            + ", ".join(
                f"{x} {v * 100:.1f}%"
                for x, v in zip(x_labels, s.values, strict=False)
                if v is not None
            )
            for s in series
        )
        or labels.empty
    )
    parts = _open(labels, description, chart_id)
    top = share_top(max(values, default=0.0))
    parts += _axes(labels, top, percent=True)
    if not values or not x_labels:
        parts.append(_empty(labels))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(x_labels), 1)
    slanted = len(x_labels) > 8
    for i, label in enumerate(x_labels):
        parts.append(_x_label(LEFT + step * (i + 0.5), label, slanted))
    legend_x: float = LEFT
    for n, line in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(line.values[: len(x_labels)]):
            if value is None:
                runs.append([])
                continue
            x = LEFT + step * (i + 0.5)
            y = HEIGHT - BOTTOM - plot_height * value / top
            runs[-1].append(f"{_number(x)},{_number(y)}")
            parts.append(
                f'<circle class="point" cx="{_number(x)}" cy="{_number(y)}" r="3" '
                f'fill="{colour}" data-value="{value:.4f}"><title>{_text(line.name)} '
                f"{_text(x_labels[i])}: {value * 100:.1f}%</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"/>'
                )
        # The legend: a row of swatches between the title and the plot.
        parts.append(
            f'<g class="legend"><rect x="{_number(legend_x)}" y="{TOP - 22}" width="10" '
            f'height="10" fill="{colour}"/><text x="{_number(legend_x + 14)}" y="{TOP - 13}" '
            f'font-size="11" {FONT}>{_text(line.name)}</text></g>'
        )
        legend_x += 14 + 6.5 * len(line.name) + 16  # about the text's width at 11 px
    parts.append("</svg>")
    return "".join(parts)
