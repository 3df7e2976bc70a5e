"""The officer dashboard: three server-drawn SVG charts and the figures behind them."""

from __future__ import annotations

from credit.catalogue import Policy
from lookup_api.pages.i18n import EN, ZH, Table
from lookup_api.pages.layout import Markup, esc
from lookup_api.routes.dashboard.charts import Labels, Series, bar_chart, line_chart
from lookup_api.routes.dashboard.service import UNGRADED, Figures

# A chart scales to the screen, whole: scrolled sideways on a phone, it would open on
# the oldest months and hide the latest.
STYLE = ".chart-box svg{display:block;max-width:720px;margin:0 auto}"
TEXT: Table = {
    ZH: {
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
    EN: {
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


def body(figures: Figures, policy: Policy, lang: str, tree_size: int) -> Markup:
    """The charts (SVG built by ``charts``, which escapes every text) and their source."""
    sections = "".join(
        f'<section class="chart-box">{svg}</section>' for svg in charts(figures, policy, lang)
    )
    note = esc(TEXT[lang]["note"].format(size=tree_size))
    return Markup(f'{sections}<p class="muted">{note}</p>')
