"""The public enterprise profile as a page: the same ``EnterpriseProfile`` the JSON route
answers, in words a consumer understands (zh-CN by default, English).

Server-rendered in the pages' shell (readable on a 360-pixel phone), no script, no
external asset. Each fact links to the ledger entry behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from html import escape
from typing import TYPE_CHECKING

from credit.catalogue import Policy
from lookup_api.pages.i18n import EN, ZH, Table
from lookup_api.pages.layout import Markup, Shell, grade_label, render_page
from lookup_api.routes.resolver.page import TEXT as CONSUMER_TEXT

if TYPE_CHECKING:  # the controller imports this module to answer browsers
    from lookup_api.routes.state.controller import EnterpriseProfile, MeasuresView

TEXT: Table = {
    ZH: {
        "title": "企业信用公示",
        "sep": "；",
        "uscc": "统一社会信用代码",
        "roles": "类型",
        "address": "地址",
        "country": "国家/地区",
        "filed": "备案日期",
        "status": "状态",
        "active": "有效",
        "revoked": "已注销",
        "products": "备案产品",
        "grade": "信用等级",
        "ungraded": "尚未评级",
        "measures": "监管措施",
        "rate": "检验比例 {rate}%",
        "document_review": "审单放行",
        "paperless": "无纸化报检",
        "green_channel": "绿色通道",
        "targeted_control": "重点监管",
        "red": "红名单公示",
        "black": "黑名单公示",
        "noticed": "已告知拟列入严重失信名单（申辩期内）",
        "listed": "已列入严重失信名单",
        "sanctions": "行政措施",
        "sanction.yellow_card": "黄牌警告",
        "sanction.interview": "约谈",
        "violations": "公开的违规记录",
        "violations_note": "轻微违规不公开；一般违规公开一年，严重违规公开三年。",
        "none": "无",
        "recalls": "正在进行的召回",
        "all_batches": "全部批次",
        "entry": "账本条目 {index}",
        "proof": "证明",
        "ledger": "以上信息来自公开账本，截至检查点 {size}。",
        "minor": "轻微",
        "general": "一般",
        "serious": "严重",
        "case": "案号",
    },
    EN: {
        "title": "Enterprise credit profile",
        "sep": "; ",
        "uscc": "Credit code (USCC)",
        "roles": "Roles",
        "address": "Address",
        "country": "Country",
        "filed": "Filed on",
        "status": "Status",
        "active": "active",
        "revoked": "revoked",
        "products": "Filed products",
        "grade": "Credit grade",
        "ungraded": "not graded yet",
        "measures": "Supervision",
        "rate": "{rate}% of batches inspected",
        "document_review": "release on document review",
        "paperless": "paperless declaration",
        "green_channel": "green channel",
        "targeted_control": "targeted control",
        "red": "published on the red list",
        "black": "published on the black list",
        "noticed": "notified of a proposed blacklisting (defence period)",
        "listed": "on the serious-dishonesty blacklist",
        "sanctions": "Sanctions",
        "sanction.yellow_card": "yellow card",
        "sanction.interview": "interview",
        "violations": "Public violations",
        "violations_note": "Minor items are never public; general ones for a year, serious "
        "ones for three years.",
        "none": "none",
        "recalls": "Open recalls",
        "all_batches": "all batches",
        "entry": "ledger entry {index}",
        "proof": "proof",
        "ledger": "From the public ledger at checkpoint {size}.",
        "minor": "minor",
        "general": "general",
        "serious": "serious",
        "case": "case",
    },
}
ROLES: Table = {
    ZH: {
        "producer": "生产企业",
        "importer": "进口商",
        "exporter": "出口商",
        "cbec_platform": "跨境电商平台",
        "customs_broker": "报关企业",
        "inspection_body": "检验机构",
    },
    EN: {
        "producer": "producer",
        "importer": "importer",
        "exporter": "exporter",
        "cbec_platform": "cross-border e-commerce platform",
        "customs_broker": "customs broker",
        "inspection_body": "inspection body",
    },
}
# The page's own rules, after the shell's (lookup_api.pages.layout).
STYLE = """
ul{margin:4px 0;padding-left:18px}li{margin:2px 0}
.entry{font-size:.85rem;white-space:nowrap}
.note{font-size:.85rem;color:#555;margin:4px 0}
"""


def _entry(index: int | None, t: Mapping[str, str]) -> str:
    """A link to the ledger entry behind a fact, and to its inclusion proof."""
    if index is None:
        return ""
    return (
        f' <span class="entry"><a href="/v1/ledger/entries/{index}">'
        f"{escape(t['entry'].format(index=index))}</a> · "
        f'<a href="/v1/ledger/entries/{index}/proof">{escape(t["proof"])}</a></span>'
    )


def _row(label: str, value: str, entry: str = "") -> str:
    return f"<dt>{escape(label)}</dt><dd>{escape(value)}{entry}</dd>"


def _percent(text: str) -> str:
    rate = Fraction(text)
    return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.1f}"


def _measures(measures: MeasuresView | None, t: Mapping[str, str]) -> str:
    if measures is None:
        return ""
    words = [t["rate"].format(rate=_percent(measures.inspection_percent))]
    for flag in ("document_review", "paperless", "green_channel", "targeted_control"):
        if getattr(measures, flag):
            words.append(t[flag])
    if measures.public_list in ("red", "black"):
        words.append(t[measures.public_list])
    return _row(t["measures"], t["sep"].join(words))


def _list(items: list[str], t: Mapping[str, str]) -> str:
    if not items:
        return f"<p>{escape(t['none'])}</p>"
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def render(profile: EnterpriseProfile, policy: Policy, shell: Shell) -> str:
    lang = shell.lang
    t = TEXT[lang]
    english = lang == EN
    parts = [f'<p class="muted">{escape(t["title"])}</p>']
    if profile.blacklist in ("noticed", "listed"):
        css = "bad" if profile.blacklist == "listed" else "warn"
        parts.append(
            f'<p class="banner {css}">{escape(t[profile.blacklist])}'
            f"{_entry(profile.blacklist_entry, t)}</p>"
        )
    if profile.recalls:
        parts.append(f'<p class="banner bad">{escape(t["recalls"])}: {len(profile.recalls)}</p>')
    roles = ROLES[lang]
    parts.append(
        "<section><dl>"
        + _row(t["uscc"], profile.uscc)
        + _row(t["roles"], ", ".join(roles.get(r, r) for r in profile.roles))
        + _row(t["address"], profile.address or "—")
        + _row(t["country"], profile.country or "—")
        + _row(t["filed"], profile.filed_on or "—", _entry(profile.filed_entry, t))
        + _row(t["status"], t.get(profile.status, profile.status), _entry(profile.revoked_entry, t))
        + _row(t["products"], str(profile.products))
        + "</dl></section>"
    )
    grade = profile.grade
    spec = next((g for g in policy.grades if g.id == grade), None)
    if grade is None:
        badge, meaning = "—", t["ungraded"]
    elif grade in CONSUMER_TEXT[lang]:  # the consumer page's plain words
        badge, meaning = grade, CONSUMER_TEXT[lang][grade]
    else:  # the policy's name, the grade not said twice
        badge, meaning = grade_label(grade, (spec.en if english else spec.zh) if spec else grade)
    parts.append(
        "<section><dl>"
        + f'<dt>{escape(t["grade"])}</dt><dd><span class="grade">{escape(badge)}</span> '
        + f"{escape(meaning)}{_entry(profile.graded_entry, t)}</dd>"
        + _measures(profile.measures, t)
        + "</dl></section>"
    )
    sanctions = [
        f"{escape(s.on)} {escape(t.get(s.kind, s.kind))}{_entry(s.entry, t)}"
        for s in profile.sanctions
    ]
    parts.append(f"<section><h2>{escape(t['sanctions'])}</h2>{_list(sanctions, t)}</section>")
    violations = []
    for v in profile.violations:
        item = policy.items.get(v.item)
        what = (item.en if english else item.zh) if item else v.item
        violations.append(
            f"{escape(v.occurred_on)} {escape(what)} ({escape(t.get(v.severity, v.severity))}; "
            f"{escape(t['case'])} {escape(v.case_no)}){_entry(v.entry, t)}"
        )
    parts.append(
        f"<section><h2>{escape(t['violations'])}</h2>{_list(violations, t)}"
        f'<p class="note">{escape(t["violations_note"])}</p></section>'
    )
    recalls = [
        f"{escape(r.issued_on)} {escape(r.product or r.gtin)} ({escape(r.gtin)}; "
        f"{escape(', '.join(r.batches) or t['all_batches'])}): {escape(r.reason)}"
        f"{_entry(r.entry, t)}"
        for r in profile.recalls
    ]
    parts.append(f"<section><h2>{escape(t['recalls'])}</h2>{_list(recalls, t)}</section>")
    parts.append(
        f'<p class="muted">{escape(t["ledger"].format(size=profile.tree_size))} '
        '<a href="/checkpoint">checkpoint</a></p>'
    )
    return render_page(shell, profile.name or profile.uscc, Markup("".join(parts)), STYLE)
