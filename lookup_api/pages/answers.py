"""Answers a page gives instead of itself: the way to the login page, a refusal page.

The authorisation hook or a handler raises ``PageAnswer``; the app's handler for it sends
the response it carries, so a browser is sent to sign in (303) where an API client gets
problem+json.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from lookup_api.pages.i18n import COMMON, pick_language
from lookup_api.pages.layout import Markup, Shell, esc, html_response, render_page
from lookup_api.pages.session import LOGIN_PATH, SESSION_COOKIE, cleared_cookie, wants_html
from lookup_api.problems import Problem


class PageAnswer(Exception):
    """Answer the request with ``response`` (a redirect, a refusal page)."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__(response.status_code)
        self.response = response


def page_answer_handler(_: Request[Any, Any, Any], exc: PageAnswer) -> Response[Any]:
    return exc.response


def language_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return pick_language(
        connection.query_params.get("lang"), connection.headers.get("accept-language")
    )


def to_login(
    connection: ASGIConnection[Any, Any, Any, Any], public_url: str, *, expired: bool = False
) -> PageAnswer:
    """303 to the login page, coming back here after; an unusable session cookie is
    cleared, so the browser stops sending it."""
    here = connection.url.path
    if connection.url.query:
        here += "?" + connection.url.query
    target = f"{LOGIN_PATH}?next={quote(here, safe='/')}"
    if expired:
        target += "&expired=1"
    cookies: list[Cookie] = []
    if connection.cookies.get(SESSION_COOKIE) is not None:
        cookies.append(cleared_cookie(SESSION_COOKIE, public_url))
    response: Response[str] = Response(
        "",
        status_code=303,
        headers={"Location": target, "Cache-Control": "no-store"},
        cookies=cookies,
    )
    return PageAnswer(response)


def refusal(
    connection: ASGIConnection[Any, Any, Any, Any], status: int, message: str
) -> PageAnswer:
    """A page that says why the request is refused, with the status that says so."""
    lang = language_of(connection)
    t = COMMON[lang]
    body = Markup(f'<p class="banner bad">{esc(message)}</p>')
    shell = Shell(lang, connection.url.path, dict(connection.query_params))
    return PageAnswer(html_response(render_page(shell, t["refused"], body), status, lang=lang))


def shown(connection: ASGIConnection[Any, Any, Any, Any], problem: Problem) -> Exception:
    """``problem`` as a browser should see it (a page with its status and detail); an API
    client keeps the problem+json."""
    if wants_html(connection):
        return refusal(connection, problem.status_code, problem.detail)
    return problem
