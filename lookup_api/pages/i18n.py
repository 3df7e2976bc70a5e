"""The pages' languages: Chinese (zh-CN) by default, English on request.

``?lang=en`` (or ``zh``) wins; otherwise the language ``Accept-Language`` prefers
(q-values honoured, ``lookup_api.negotiation``), Chinese when it names neither.
Each page keeps its own text table, ``{language: {key: text}}``, with the same keys in
both languages; ``COMMON`` holds what the page shell itself says.
"""

from __future__ import annotations

from collections.abc import Mapping

from lookup_api.negotiation import preferred_language

ZH = "zh-CN"
EN = "en"
LANGUAGES = (ZH, EN)
Table = Mapping[str, Mapping[str, str]]


def pick_language(query_lang: str | None, accept_language: str | None) -> str:
    if query_lang:
        return EN if query_lang.lower().startswith("en") else ZH
    return EN if preferred_language(accept_language, ("zh", "en")) == "en" else ZH


def other_language(lang: str) -> str:
    """The value of ``?lang=`` that switches to the other language."""
    return "zh" if lang == EN else "en"


COMMON: Table = {
    ZH: {
        "switch": "English",
        "site": "信用监管平台",
        "home": "企业查询",
        "blacklist": "失信名单",
        "proposals": "拟列入名单",
        "new_record": "登记记录",
        "ledger": "账本",
        "dashboard": "概览",
        "logout": "退出",
        "refused": "无权访问",
        "footer": "credtrace 监管账本 · 所有记录可公开验证",
    },
    EN: {
        "switch": "中文",
        "site": "Credit supervision",
        "home": "Enterprises",
        "blacklist": "Blacklist",
        "proposals": "Proposals",
        "new_record": "File a record",
        "ledger": "Ledger",
        "dashboard": "Dashboard",
        "logout": "Sign out",
        "refused": "Not allowed",
        "footer": "credtrace ledger · every record publicly verifiable",
    },
}
