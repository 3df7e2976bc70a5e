"""The officer dashboard: three server-drawn SVG charts and the figures behind them."""

from __future__ import annotations

from html import escape

from credit.catalogue import Policy
from lookup_api.routes.dashboard.charts import Labels, Series, bar_chart, line_chart
from lookup_api.routes.dashboard.service import UNGRADED, Figures

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "监管概览",
        "grades": "信用等级分布",
        "grades_x": "信用等级（{policy}）",
        "enterprises": "企业数",
        "ungraded": "未评级",
        "violations": "每月违规记录",
        "month": "月份",
        "count": "违规条数",
        "ports": "各口岸不合格率趋势",
        "share": "不合格比例",
        "empty": "暂无数据",
        "inspections": "{port}（检验 {count} 批）",
        "note": "数据来自账本投影，截至检查点 {size}。",
    },
    "en": {
        "title": "Supervision dashboard",
        "grades": "Credit grade distribution",
        "grades_x": "Credit grade ({policy})",
        "enterprises": "Enterprises",
        "ungraded": "not graded",
        "violations": "Violations per month",
        "month": "Month",
        "count": "Violations",
        "ports": "Non-conformity trend by port",
        "share": "Share non-conformant",
        "empty": "No data yet",
        "inspections": "{port} ({count} inspected)",
        "note": "Figures from the ledger's projections at checkpoint {size}.",
    },
}


def charts(figures: Figures, policy: Policy, lang: str) -> list[str]:
    """The three charts, in the page's language."""
    t = TEXT[lang]
    grade_bars = [(t["ungraded"] if g == UNGRADED else g, n) for g, n in figures.grades]
    grades = bar_chart(
        grade_bars,
        Labels(t["grades"], t["grades_x"].format(policy=policy.id), t["enterprises"], t["empty"]),
        "chart-grades",
    )
    violations = bar_chart(
        list(zip(figures.months, figures.violations, strict=True)),
        Labels(t["violations"], t["month"], t["count"], t["empty"]),
        "chart-violations",
    )
    ports = line_chart(
        figures.inspection_months,
        [
            Series(t["inspections"].format(port=p.port, count=p.inspections), p.shares)
            for p in figures.ports
        ],
        Labels(t["ports"], t["month"], t["share"], t["empty"]),
        "chart-ports",
    )
    return [grades, violations, ports]


def body(figures: Figures, policy: Policy, lang: str, tree_size: int) -> str:
    t = TEXT[lang]
    sections = "".join(
        f'<section class="chart-box">{svg}</section>' for svg in charts(figures, policy, lang)
    )
    note = escape(t["note"].format(size=tree_size))
    return f'<h1>{escape(t["title"])}</h1>{sections}<p class="note">{note}</p>'
