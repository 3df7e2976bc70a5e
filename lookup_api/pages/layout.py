"""One page shell for every HTML page: doctype, language, viewport, inline style, header
with navigation and language switch, footer.

No script and no external asset: the style is inline, so a page renders the same
offline, on a 360-pixel phone and on a desktop. Everything the pages show goes through
``esc``: text from the ledger (an enterprise's name, a reason) is data, never markup.
A fragment that is already HTML is a ``Markup``; anything else is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

from litestar import Response

from lookup_api.pages.i18n import COMMON, other_language

HTML = "text/html"  # Litestar appends "; charset=utf-8" to a text type itself
# Pages carry no script of their own; a page that needs one passes its own policy.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
color:#1a1a1a;background:#f4f5f7}
header{background:#123c69;color:#fff}
header .bar{max-width:1040px;margin:0 auto;padding:8px 12px;display:flex;flex-wrap:wrap;
align-items:center;gap:6px 14px}
header .site{font-weight:800;margin-right:auto;color:#fff;text-decoration:none}
header nav{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:center}
header a{color:#fff}header a.here{font-weight:700;text-decoration:none;border-bottom:2px solid #fff}
header form{margin:0}
header button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;
padding:1px 8px;font:inherit;cursor:pointer}
main{max-width:1040px;margin:0 auto;padding:12px}
h1{font-size:1.3rem;margin:4px 0 12px}h2{font-size:1.1rem;margin:0 0 8px}
.banner{padding:12px;border-radius:8px;margin:0 0 10px;font-weight:700}
.bad{background:#b00020;color:#fff}.warn{background:#ffb300;color:#1a1a1a}
.good{background:#1b7f3b;color:#fff}
section{background:#fff;border-radius:8px;padding:10px 12px;margin:0 0 10px}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 12px}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e5e8;vertical-align:top}
th{color:#555;font-weight:600;white-space:nowrap}
td{overflow-wrap:break-word}
.grade{font-size:1.6rem;font-weight:800}
.muted{color:#555}
form.stack{display:grid;gap:10px;max-width:560px}
label{display:grid;gap:2px;font-weight:600}
input,select,textarea{font:inherit;padding:6px 8px;border:1px solid #9aa0a6;border-radius:6px;
width:100%;background:#fff}
textarea{min-height:8em;font-family:ui-monospace,monospace;font-size:.9rem}
button.primary{font:inherit;font-weight:700;padding:8px 16px;border:0;border-radius:6px;
background:#0b57d0;color:#fff;cursor:pointer;justify-self:start}
form.inline{display:flex;flex-wrap:wrap;gap:8px;align-items:end}
form.inline label{flex:1 1 240px}
.pager{display:flex;gap:16px;margin:8px 0}
footer{max-width:1040px;margin:0 auto;font-size:.85rem;color:#555;padding:4px 14px 16px}
a{color:#0b57d0}
"""


class Markup(str):
    """A fragment of HTML that is already safe (built by these helpers)."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """``value`` as HTML text: escaped, unless it is ``Markup`` already; None is a dash."""
    if isinstance(value, Markup):
        return value
    return Markup(escape("—" if value is None else str(value)))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def link(href: str, text: object) -> Markup:
    return Markup(f'<a href="{escape(href)}">{esc(text)}</a>')


def definitions(rows: Iterable[tuple[object, object]]) -> Markup:
    """A ``<dl>`` of (label, value) pairs."""
    return Markup(
        "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>"
    )


def table(head: Iterable[object], rows: Iterable[Iterable[object]]) -> Markup:
    """A table that scrolls sideways on a narrow screen instead of overflowing it."""
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return Markup(
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


# Where a ledger entry is shown; every page links entries through ``entry_link``.
ENTRY_HREF = "/v1/ledger/entries/{index}"


_BRACKETS = {"(": ")", "（": "）"}


def grade_label(grade: str, name: str) -> tuple[str, str]:
    """A grade as its badge and the words after it, so that no page says it twice.

    A policy's name that begins with the grade ("D级（严重失信企业）", "D (seriously
    dishonest)") gives the grade as the badge and the rest of the name, unbracketed, as
    the words ("严重失信企业"); any other name ("失信企业", "seriously dishonest" for
    ``seriously_dishonest``) is the badge itself, with no words.
    """
    if not name.startswith(grade):
        return name, ""
    rest = name[len(grade) :].strip().removeprefix("级").strip()
    if rest[:1] in _BRACKETS and rest.endswith(_BRACKETS[rest[:1]]):
        rest = rest[1:-1].strip()
    return grade, rest


def entry_link(index: int | None) -> Markup:
    if index is None:
        return esc(None)
    return link(ENTRY_HREF.format(index=index), f"#{index}")


def entry_links(indexes: Iterable[int]) -> Markup:
    return Markup(" ".join(entry_link(i) for i in indexes))


def hidden(name: str, value: str) -> Markup:
    return Markup(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">')


def with_query(path: str, params: Mapping[str, str]) -> str:
    """``path`` with ``params`` as its query string (empty values left out)."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


# The officers' sections, in the header's order: (path, COMMON key).
OFFICER_NAV: tuple[tuple[str, str], ...] = (
    ("/officer", "home"),
    ("/officer/blacklist", "blacklist"),
    ("/officer/proposals", "proposals"),
    ("/officer/records/new", "new_record"),
    ("/officer/ledger", "ledger"),
    ("/officer/dashboard", "dashboard"),
)


@dataclass(frozen=True)
class Shell:
    """What the shell needs to know about the request."""

    lang: str
    path: str  # the page's own path, for the language switch and the current section
    query: Mapping[str, str] = field(default_factory=dict)
    nav: tuple[tuple[str, str], ...] = ()  # the sections to link; empty: none
    logout_csrf: str | None = None  # signed in: the sign-out form's token

    def switch_href(self) -> str:
        return with_query(self.path, {**self.query, "lang": other_language(self.lang)})

    def href(self, path: str, **params: str) -> str:
        """A link to another page that keeps an explicitly chosen language."""
        chosen = self.query.get("lang")
        return with_query(path, {**params, "lang": chosen} if chosen else params)


def _header(shell: Shell, t: Mapping[str, str]) -> str:
    items = []
    for path, key in shell.nav:
        here = ' class="here"' if shell.path == path else ""
        items.append(f'<a href="{escape(shell.href(path))}"{here}>{esc(t[key])}</a>')
    if shell.logout_csrf is not None:
        items.append(
            f'<form method="post" action="/officer/logout">{hidden("csrf", shell.logout_csrf)}'
            f'<button type="submit">{esc(t["logout"])}</button></form>'
        )
    items.append(
        f'<a href="{escape(shell.switch_href())}" lang="{"zh-CN" if shell.lang == "en" else "en"}"'
        f">{esc(t['switch'])}</a>"
    )
    home = shell.href(shell.nav[0][0]) if shell.nav else shell.switch_href()
    return (
        f'<header><div class="bar"><a class="site" href="{escape(home)}">{esc(t["site"])}</a>'
        f"<nav>{''.join(items)}</nav></div></header>"
    )


def render_page(shell: Shell, title: str, body: object, style: str = "") -> str:
    """The whole document around ``body`` (Markup, or text to escape); ``style``: the
    page's own rules, after the shell's."""
    t = COMMON[shell.lang]
    return (
        f'<!doctype html><html lang="{escape(shell.lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)} · {esc(t['site'])}</title><style>{STYLE}{style}</style></head><body>"
        f"{_header(shell, t)}<main><h1>{esc(title)}</h1>{esc(body)}</main>"
        f"<footer>{esc(t['footer'])}</footer></body></html>"
    )


def html_response(
    document: str,
    status: int = 200,
    *,
    lang: str,
    headers: Mapping[str, str] | None = None,
    csp: str = CSP,
) -> Response[str]:
    """A page: never cached (it may show what only an officer may see), never framed."""
    return Response(
        document,
        status_code=status,
        media_type=HTML,
        headers={
            "Cache-Control": "no-store",
            "Content-Language": lang,
            "Vary": "Accept-Language, Cookie",
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            **(headers or {}),
        },
    )
