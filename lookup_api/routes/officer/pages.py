"""The officers' pages as pure functions: what a page shows in, an HTML document out."""

from __future__ import annotations

from collections.abc import Mapping

from lookup_api.pages.i18n import EN, ZH, Table
from lookup_api.pages.layout import Markup, Shell, esc, hidden, render_page
from lookup_api.pages.session import CSRF_FIELD

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
    },
}


def texts(lang: str) -> Mapping[str, str]:
    return TEXT[lang]


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


def home_page(shell: Shell, results: Markup) -> str:
    t = TEXT[shell.lang]
    return render_page(shell, t["home_title"], results)
