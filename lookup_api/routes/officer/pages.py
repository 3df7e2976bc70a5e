"""The officers' pages as pure functions: what a page shows in, an HTML document out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from credit.explain import Proposal
from lookup_api.pages.i18n import EN, ZH, Table
from lookup_api.pages.layout import (
    Markup,
    Shell,
    definitions,
    entry_link,
    entry_links,
    esc,
    grade_label,
    hidden,
    join,
    link,
    render_page,
    table,
)
from lookup_api.pages.session import CSRF_FIELD
from lookup_api.routes.credit.controller import CreditView
from lookup_api.routes.officer.service import BlacklistStanding, FormField, SearchPage
from lookup_api.routes.state.controller import EnterpriseProfile

CHINA = dt.timezone(dt.timedelta(hours=8))

TEXT: Table = {
    ZH: {
        "login_title": "监管人员登录",
        "login_key": "监管人员 API 密钥",
        "login_help": "使用 credtrace keys create --role officer 生成的密钥（ct_ 开头）。",
        "login_submit": "登录",
        "login_expired": "登录已失效（密钥已注销或无效），请重新登录。",
        "login_bad_key": "密钥无效或已注销。",
        "login_not_officer": "该密钥不是监管人员密钥（角色：{role}），不能登录监管页面。",
        "login_csrf": "表单已过期或来源不明，请重新提交。",
        "home_title": "企业查询",
        "search_label": "企业名称或统一社会信用代码",
        "search": "查询",
        "no_hits": "没有符合条件的企业。",
        "previous": "上一页",
        "next": "下一页",
        "page": "第 {page} 页",
        "uscc": "统一社会信用代码",
        "name": "企业名称",
        "roles": "类型",
        "status": "状态",
        "grade": "信用等级",
        "blacklist_col": "失信名单",
        "none": "—",
        "active": "正常",
        "revoked": "已注销",
        "noticed": "已告知（拟列入）",
        "listed": "已列入",
        "enterprise_title": "企业信用",
        "address": "地址",
        "country": "国家/地区",
        "filed_on": "备案日期",
        "products": "在册产品",
        "score": "扣分",
        "policy": "评级政策",
        "as_of": "评定日期",
        "rule": "适用规则",
        "tree_size": "账本条目数",
        "measures": "监管措施",
        "inspection_percent": "抽检比例",
        "document_review": "审单放行",
        "paperless": "无纸化",
        "green_channel": "绿色通道",
        "targeted_control": "重点监控",
        "public_list": "公开名单",
        "yes": "是",
        "no": "否",
        "red": "红名单",
        "black": "黑名单",
        "reasons": "评级依据",
        "points": "分值",
        "window": "统计期间",
        "entries": "账本条目",
        "meaning": "说明",
        "no_reasons": "无扣分事项。",
        "sanctions": "警示与约谈",
        "kind": "类型",
        "reason": "事由",
        "on": "日期",
        "entry": "条目",
        "history": "评级记录",
        "no_history": "尚无评级记录。",
        "proposed": "该企业符合列入严重失信名单的条件，可发出列入告知。",
        "repair_allowed": "该企业现在可以申请信用修复。",
        "repair_refused": "信用修复：{reason}",
        "as_of_label": "评定日期（YYYY-MM-DD）",
        "policy_label": "评级政策",
        "show": "查看",
        "blacklist_title": "失信名单",
        "noticed_on": "告知日期",
        "listed_on": "列入日期",
        "listing_allowed": "可列入时间",
        "removal_allowed": "可移出日期",
        "no_blacklist": "目前没有已告知或已列入的企业。",
        "proposals_title": "拟列入严重失信名单",
        "proposals_help": "评级达到列入条件、尚未告知的企业。",
        "graded_entry": "评级条目",
        "no_proposals": "目前没有拟列入的企业。",
        "notice": "登记列入告知",
        "record_title": "登记记录",
        "record_kind": "记录类型",
        "choose": "选择",
        "record_fields": "字段（列表用逗号分隔，可选字段可留空）",
        "record_json": "或粘贴 JSON 负载（填写后以此为准）",
        "record_submit": "提交到账本",
        "record_error": "未写入：{error}",
        "recorded_title": "已写入账本",
        "recorded": "记录已追加到账本。",
        "index": "条目序号",
        "subject": "主体",
        "leaf_hash": "叶哈希",
        "checkpoint_size": "检查点大小",
        "view_entry": "查看条目",
        "another": "继续登记",
        "optional": "可选",
    },
    EN: {
        "login_title": "Officer sign-in",
        "login_key": "Officer API key",
        "login_help": "A key made with credtrace keys create --role officer (starts with ct_).",
        "login_submit": "Sign in",
        "login_expired": "Your session has ended (the key was revoked or is not valid): "
        "please sign in again.",
        "login_bad_key": "Unknown or revoked key.",
        "login_not_officer": "This key is not an officer's (role: {role}): it cannot sign in here.",
        "login_csrf": "The form has expired or was not sent from this site: please send it again.",
        "home_title": "Enterprise search",
        "search_label": "Enterprise name or USCC",
        "search": "Search",
        "no_hits": "No enterprise matches.",
        "previous": "Previous",
        "next": "Next",
        "page": "page {page}",
        "uscc": "USCC",
        "name": "Name",
        "roles": "Roles",
        "status": "Status",
        "grade": "Grade",
        "blacklist_col": "Blacklist",
        "none": "—",
        "active": "active",
        "revoked": "revoked",
        "noticed": "noticed",
        "listed": "listed",
        "enterprise_title": "Enterprise credit",
        "address": "Address",
        "country": "Country",
        "filed_on": "Filed on",
        "products": "Products filed",
        "score": "Points",
        "policy": "Policy",
        "as_of": "As of",
        "rule": "Rule applied",
        "tree_size": "Ledger size",
        "measures": "Supervision measures",
        "inspection_percent": "Inspection rate",
        "document_review": "Release on document review",
        "paperless": "Paperless",
        "green_channel": "Green channel",
        "targeted_control": "Targeted control",
        "public_list": "Public list",
        "yes": "yes",
        "no": "no",
        "red": "red list",
        "black": "black list",
        "reasons": "Reasons",
        "points": "Points",
        "window": "Window",
        "entries": "Entries",
        "meaning": "Meaning",
        "no_reasons": "No points.",
        "sanctions": "Yellow cards and interviews",
        "kind": "Kind",
        "reason": "Reason",
        "on": "On",
        "entry": "Entry",
        "history": "Grade history",
        "no_history": "No grade recorded yet.",
        "proposed": "This enterprise qualifies for the blacklist: a notice may be filed.",
        "repair_allowed": "This enterprise may request credit repair now.",
        "repair_refused": "Credit repair: {reason}",
        "as_of_label": "As of (YYYY-MM-DD)",
        "policy_label": "Policy",
        "show": "Show",
        "blacklist_title": "Blacklist",
        "noticed_on": "Noticed on",
        "listed_on": "Listed on",
        "listing_allowed": "Listing allowed from",
        "removal_allowed": "Removal allowed from",
        "no_blacklist": "No enterprise is noticed or listed.",
        "proposals_title": "Proposed for the blacklist",
        "proposals_help": "Enterprises whose grade qualifies them and who are not noticed yet.",
        "graded_entry": "Graded in",
        "no_proposals": "No enterprise is proposed.",
        "notice": "File a notice",
        "record_title": "File a record",
        "record_kind": "Record kind",
        "choose": "Choose",
        "record_fields": "Fields (lists comma-separated; optional fields may stay empty)",
        "record_json": "Or paste the JSON payload (used instead of the fields when given)",
        "record_submit": "Append to the ledger",
        "record_error": "Nothing written: {error}",
        "recorded_title": "Recorded",
        "recorded": "The record was appended to the ledger.",
        "index": "Index",
        "subject": "Subject",
        "leaf_hash": "Leaf hash",
        "checkpoint_size": "Checkpoint size",
        "view_entry": "See the entry",
        "another": "File another",
        "optional": "optional",
    },
}


def texts(lang: str) -> Mapping[str, str]:
    return TEXT[lang]


def _word(t: Mapping[str, str], value: str | None) -> str:
    """A state's name in the page's language (the value itself when it has none)."""
    if value is None:
        return t["none"]
    return t.get(value, value)


def _yes(t: Mapping[str, str], value: bool) -> str:
    return t["yes"] if value else t["no"]


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") + " (UTC+8)"


def _section(title: str | None, body: object) -> Markup:
    heading = "" if title is None else f"<h2>{esc(title)}</h2>"
    return Markup(f"<section>{heading}{esc(body)}</section>")


def _banner(css: str, text: str) -> Markup:
    return Markup(f'<p class="banner {css}">{esc(text)}</p>')


# --- sign-in ---------------------------------------------------------------------------


def login_page(shell: Shell, csrf: str, target: str, message: str | None) -> str:
    t = TEXT[shell.lang]
    banner = "" if message is None else f'<p class="banner bad" role="alert">{esc(message)}</p>'
    body = Markup(
        f"{banner}<section>"
        f'<form class="stack" method="post" action="{esc(shell.href("/officer/login"))}">'
        f"{hidden(CSRF_FIELD, csrf)}{hidden('next', target)}"
        f'<label>{esc(t["login_key"])}<input type="password" name="key" required '
        'autocomplete="current-password" spellcheck="false" autofocus></label>'
        f'<p class="muted">{esc(t["login_help"])}</p>'
        f'<button class="primary" type="submit">{esc(t["login_submit"])}</button>'
        "</form></section>"
    )
    return render_page(shell, t["login_title"], body)


# --- search ----------------------------------------------------------------------------


def enterprise_href(shell: Shell, uscc: str) -> str:
    return shell.href(f"/officer/enterprises/{uscc}")


def home_page(shell: Shell, found: SearchPage) -> str:
    t = TEXT[shell.lang]
    lang = shell.query.get("lang")
    form = Markup(
        f'<form class="inline" method="get" action="/officer" role="search">'
        f'<label>{esc(t["search_label"])}<input type="search" name="q" maxlength="100" '
        f'value="{escape(found.query)}" autofocus></label>'
        + (hidden("lang", lang) if lang else "")
        + f'<button class="primary" type="submit">{esc(t["search"])}</button></form>'
    )
    if found.hits:
        rows = [
            (
                link(enterprise_href(shell, h.uscc), h.uscc),
                h.name,
                ", ".join(h.roles),
                _word(t, h.status),
                h.grade,
                _word(t, h.blacklist if h.blacklist != "none" else None),
            )
            for h in found.hits
        ]
        results = table(
            (t["uscc"], t["name"], t["roles"], t["status"], t["grade"], t["blacklist_col"]), rows
        )
    else:
        results = Markup(f'<p class="muted">{esc(t["no_hits"])}</p>')
    pager = []
    if found.page > 1:
        pager.append(
            link(shell.href("/officer", q=found.query, page=str(found.page - 1)), t["previous"])
        )
    pager.append(esc(t["page"].format(page=found.page)))
    if found.more:
        pager.append(
            link(shell.href("/officer", q=found.query, page=str(found.page + 1)), t["next"])
        )
    nav = Markup(f'<nav class="pager" aria-label="pages">{join(pager)}</nav>')
    return render_page(
        shell, t["home_title"], join([_section(None, form), _section(None, join([results, nav]))])
    )


# --- an enterprise's grade -------------------------------------------------------------


def _measures(t: Mapping[str, str], view: CreditView) -> Markup:
    m = view.measures
    return definitions(
        [
            (t["inspection_percent"], f"{m.inspection_percent} %"),
            (t["document_review"], _yes(t, m.document_review)),
            (t["paperless"], _yes(t, m.paperless)),
            (t["green_channel"], _yes(t, m.green_channel)),
            (t["targeted_control"], _yes(t, m.targeted_control)),
            (t["public_list"], _word(t, m.public_list)),
        ]
    )


def _choose_grading(shell: Shell, view: CreditView, policies: Sequence[str]) -> Markup:
    t = TEXT[shell.lang]
    options = "".join(
        f'<option value="{escape(p)}"{" selected" if p == view.policy else ""}>{esc(p)}</option>'
        for p in policies
    )
    lang = shell.query.get("lang")
    return Markup(
        f'<form class="inline" method="get" action="{escape(shell.path)}">'
        f'<label>{esc(t["policy_label"])}<select name="policy">{options}</select></label>'
        f'<label>{esc(t["as_of_label"])}<input name="as_of" value="{escape(view.as_of)}" '
        'pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}" maxlength="10"></label>'
        + (hidden("lang", lang) if lang else "")
        + f'<button class="primary" type="submit">{esc(t["show"])}</button></form>'
    )


def enterprise_page(
    shell: Shell, profile: EnterpriseProfile, view: CreditView, policies: Sequence[str]
) -> str:
    t = TEXT[shell.lang]
    english = shell.lang == EN
    parts: list[object] = []
    if profile.blacklist != "none":
        parts.append(_banner("bad", f"{t['blacklist_col']}: {_word(t, profile.blacklist)}"))
    if view.proposed_for_blacklist:
        parts.append(_banner("warn", t["proposed"]))
    parts.append(
        _section(
            profile.name,
            definitions(
                [
                    (t["uscc"], profile.uscc),
                    (t["roles"], ", ".join(profile.roles)),
                    (t["status"], _word(t, profile.status)),
                    (t["address"], profile.address),
                    (t["country"], profile.country),
                    (t["filed_on"], profile.filed_on),
                    (t["products"], profile.products),
                ]
            ),
        )
    )
    badge, words = grade_label(view.grade, view.grade_en if english else view.grade_zh)
    grade = definitions(
        [
            (t["grade"], Markup(f'<span class="grade">{esc(badge)}</span> {esc(words)}')),
            (t["score"], view.score),
            (t["rule"], view.rule),
            (t["policy"], view.policy),
            (t["as_of"], view.as_of),
            (t["tree_size"], view.tree_size),
        ]
    )
    parts.append(_section(t["grade"], join([grade, _choose_grading(shell, view, policies)])))
    parts.append(_section(t["measures"], _measures(t, view)))
    if view.reasons:
        reasons = table(
            (t["rule"], t["points"], t["window"], t["entries"], t["meaning"]),
            [
                (
                    r.rule,
                    r.points,
                    None if r.window is None else f"{r.window.start} – {r.window.end}",
                    entry_links(r.entries),
                    r.en if english else r.zh,
                )
                for r in view.reasons
            ],
        )
    else:
        reasons = Markup(f'<p class="muted">{esc(t["no_reasons"])}</p>')
    parts.append(_section(t["reasons"], reasons))
    repair = (
        t["repair_allowed"]
        if view.repair is None
        else t["repair_refused"].format(
            reason=view.repair.refused if english else view.repair.refused_zh
        )
    )
    parts.append(Markup(f'<p class="muted">{esc(repair)}</p>'))
    if view.sanctions:
        parts.append(
            _section(
                t["sanctions"],
                table(
                    (t["entry"], t["kind"], t["reason"], t["on"]),
                    [(entry_link(s.entry), s.kind, s.reason, s.on) for s in view.sanctions],
                ),
            )
        )
    history = (
        table(
            (t["entry"], t["grade"], t["policy"], t["on"]),
            [(entry_link(g.entry), g.grade, g.policy, g.on) for g in reversed(view.history)],
        )
        if view.history
        else Markup(f'<p class="muted">{esc(t["no_history"])}</p>')
    )
    parts.append(_section(t["history"], history))
    return render_page(
        shell, f"{t['enterprise_title']} · {profile.name or profile.uscc}", join(parts)
    )


# --- the blacklist and the proposals ---------------------------------------------------


def blacklist_page(shell: Shell, standings: Sequence[BlacklistStanding]) -> str:
    t = TEXT[shell.lang]
    if not standings:
        return render_page(shell, t["blacklist_title"], _section(None, esc(t["no_blacklist"])))
    rows = []
    for s in standings:
        removal: object = s.removal_allowed_on
        if s.removal_refused is not None and s.removal_allowed_on is None:
            # Not by waiting alone: say why, in the page's language.
            english = shell.lang == EN
            removal = s.removal_refused.reason if english else s.removal_refused.reason_zh
        rows.append(
            (
                link(enterprise_href(shell, s.uscc), s.uscc),
                s.name,
                Markup(f"{esc(_word(t, s.standing))} {entry_link(s.entry)}"),
                s.reason,
                Markup(f"{esc(s.noticed_on)} {entry_link(s.noticed_entry)}")
                if s.noticed_on
                else None,
                None if s.listing_allowed_from is None else _local(s.listing_allowed_from),
                Markup(f"{esc(s.listed_on)} {entry_link(s.listed_entry)}") if s.listed_on else None,
                removal,
            )
        )
    head = (
        t["uscc"],
        t["name"],
        t["status"],
        t["reason"],
        t["noticed_on"],
        t["listing_allowed"],
        t["listed_on"],
        t["removal_allowed"],
    )
    return render_page(shell, t["blacklist_title"], _section(None, table(head, rows)))


def proposals_page(shell: Shell, proposals: Sequence[Proposal]) -> str:
    t = TEXT[shell.lang]
    if not proposals:
        body: Markup = esc(t["no_proposals"])
    else:
        body = table(
            (t["uscc"], t["name"], t["grade"], t["graded_entry"], ""),
            [
                (
                    link(enterprise_href(shell, p.uscc), p.uscc),
                    p.name,
                    p.grade,
                    entry_link(p.graded_entry),
                    link(
                        shell.href("/officer/records/new", kind="blacklist.noticed", uscc=p.uscc),
                        t["notice"],
                    ),
                )
                for p in proposals
            ],
        )
    intro = Markup(f'<p class="muted">{esc(t["proposals_help"])}</p>')
    return render_page(shell, t["proposals_title"], _section(None, join([intro, body])))


# --- filing a record -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordForm:
    kinds: Sequence[str]
    kind: str | None  # the kind chosen, whose fields the form shows
    fields: Sequence[FormField]
    values: Mapping[str, str]  # what was entered (or given in the link)
    payload_json: str
    csrf: str
    request_key: str  # the form's own Idempotency-Key, so a second click appends nothing
    error: str | None = None


def _input(field: FormField, value: str, t: Mapping[str, str]) -> Markup:
    name = f"f.{field.name}"
    label = field.name + ("" if field.required else f" ({t['optional']})")
    if field.kind == "boolean":
        options = "".join(
            f'<option value="{v}"{" selected" if value == v else ""}>{esc(v or "—")}</option>'
            for v in ("", "true", "false")
        )
        control = f'<select name="{escape(name)}">{options}</select>'
    else:
        kind = {"date": "date", "integer": "number"}.get(field.kind, "text")
        control = (
            f'<input type="{kind}" name="{escape(name)}" value="{escape(value)}" maxlength="2000">'
        )
    return Markup(f"<label>{esc(label)}{control}</label>")


def record_form_page(shell: Shell, form: RecordForm) -> str:
    t = TEXT[shell.lang]
    parts: list[object] = []
    if form.error is not None:
        parts.append(
            Markup(
                f'<p class="banner bad" role="alert">'
                f"{esc(t['record_error'].format(error=form.error))}</p>"
            )
        )
    lang = shell.query.get("lang")
    options = "".join(
        f'<option value="{escape(k)}"{" selected" if k == form.kind else ""}>{esc(k)}</option>'
        for k in form.kinds
    )
    chooser = Markup(
        '<form class="inline" method="get" action="/officer/records/new">'
        f'<label>{esc(t["record_kind"])}<select name="kind">{options}</select></label>'
        + (hidden("lang", lang) if lang else "")
        + f'<button class="primary" type="submit">{esc(t["choose"])}</button></form>'
    )
    parts.append(_section(None, chooser))
    if form.kind is not None:
        inputs = "".join(_input(f, form.values.get(f.name, ""), t) for f in form.fields)
        parts.append(
            _section(
                form.kind,
                Markup(
                    f'<form class="stack" method="post" '
                    f'action="{escape(shell.href("/officer/records/new"))}">'
                    f"{hidden(CSRF_FIELD, form.csrf)}{hidden('kind', form.kind)}"
                    f"{hidden('request_key', form.request_key)}"
                    f'<p class="muted">{esc(t["record_fields"])}</p>{inputs}'
                    f'<label>{esc(t["record_json"])}<textarea name="payload_json" '
                    f'spellcheck="false">{esc(form.payload_json)}</textarea></label>'
                    f'<button class="primary" type="submit">{esc(t["record_submit"])}</button>'
                    "</form>"
                ),
            )
        )
    return render_page(shell, t["record_title"], join(parts))


@dataclass(frozen=True)
class Recorded:
    index: int
    kind: str
    subject: str
    leaf_hash: str
    checkpoint_size: int
    repeated: bool


def recorded_page(shell: Shell, done: Recorded) -> str:
    t = TEXT[shell.lang]
    facts = definitions(
        [
            (t["index"], entry_link(done.index)),
            (t["record_kind"], done.kind),
            (t["subject"], done.subject),
            (t["leaf_hash"], Markup(f"<code>{esc(done.leaf_hash)}</code>")),
            (t["checkpoint_size"], done.checkpoint_size),
        ]
    )
    more = Markup(
        f"<p>{link(shell.href('/officer/records/new', kind=done.kind), t['another'])}</p>"
    )
    body = join([_banner("good", t["recorded"]), _section(None, join([facts, more]))])
    return render_page(shell, t["recorded_title"], body)
