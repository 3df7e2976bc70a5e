"""The officers' pages (HTML): signing in and out, and the pages behind an officer key.

Handlers stay thin: the data comes from the routes' own services, the HTML from the pure
functions in ``pages``. Every form POST is checked for origin and CSRF token before it
does anything (``lookup_api.pages.forms``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, route
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from lookup_api.auth import AuthError
from lookup_api.dependencies import ServicesDep
from lookup_api.pages.answers import language_of
from lookup_api.pages.forms import form_operation, read_checked_form, read_form
from lookup_api.pages.layout import OFFICER_NAV, Markup, Shell, html_response
from lookup_api.pages.session import (
    HOME_PATH,
    LOGIN_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    cleared_cookie,
    csrf_token,
    csrf_valid,
    local_target,
    login_cookie,
    new_nonce,
    same_origin,
    session_cookie,
    session_credential,
    wants_html,
)
from lookup_api.problems import Problem, problem_responses
from lookup_api.routes.officer import pages
from lookup_api.wiring import Services

LangParam = Annotated[
    str | None, QueryParameter(name="lang", max_length=16, description="en or zh (default zh)")
]
NextParam = Annotated[
    str | None,
    QueryParameter(name="next", max_length=512, description="the officer page to go to after"),
]
ExpiredParam = Annotated[
    str | None, QueryParameter(name="expired", max_length=8, description="1: the session ended")
]
CSRF_ONLY = {"csrf": "the form's CSRF token, as the page gave it"}
LOGIN_FIELDS = {
    **CSRF_ONLY,
    "key": "an officer API key, ct_<key id>_<secret>",
    "next": "the officer page to go to after",
}
SEE_OTHER = ResponseSpec(None, description="Done (or sign in first): go to Location")


def page_responses(*statuses: int, redirects: bool = False) -> dict[int, ResponseSpec]:
    found = problem_responses(*statuses)
    if redirects:
        found[303] = SEE_OTHER
    return found


def officer_shell(request: Request[Any, Any, Any], services: Services) -> Shell:
    """The shell of a page behind the officer key: the sections and the sign-out form."""
    credential = session_credential(request) or ""
    return Shell(
        language_of(request),
        request.url.path,
        {k: v for k, v in request.query_params.items() if isinstance(v, str)},
        nav=OFFICER_NAV,
        logout_csrf=csrf_token(services.page_secret, "session:" + credential),
    )


def _login_form(
    request: Request[Any, Any, Any],
    services: Services,
    target: str,
    status: int = 200,
    message: str | None = None,
) -> Response[str]:
    """The login form, with a CSRF token tied to this browser's login cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE) or new_nonce()
    lang = language_of(request)
    shell = Shell(lang, LOGIN_PATH, {"lang": request.query_params.get("lang") or ""})
    token = csrf_token(services.page_secret, "login:" + nonce)
    response = html_response(pages.login_page(shell, token, target, message), status, lang=lang)
    response.set_cookie(login_cookie(nonce, services.settings.public_url))
    return response


def _refuse_login(
    request: Request[Any, Any, Any],
    services: Services,
    status: int,
    message: str,
    target: str,
) -> Response[str]:
    if not wants_html(request):
        title = {401: "Unauthorized", 403: "Forbidden"}[status]
        raise Problem(status, title, message, type_=f"/problems/{title.lower()}")
    return _login_form(request, services, target, status, message)


class OfficerController(Controller):
    tags = ["officer pages"]  # noqa: RUF012

    @get(
        LOGIN_PATH,
        sync_to_thread=False,
        media_type="text/html",
        summary="The officers' sign-in form (HTML)",
        responses=page_responses(400),
    )
    def login_form(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        lang: LangParam = None,
        next_page: NextParam = None,
        expired: ExpiredParam = None,
    ) -> Response[str]:
        message = pages.texts(language_of(request))["login_expired"] if expired else None
        return _login_form(request, services, local_target(next_page), message=message)

    @route(LOGIN_PATH, http_method=["OPTIONS"], include_in_schema=False, sync_to_thread=False)
    def allow_login(self) -> Response[None]:
        # Litestar's own OPTIONS answer for a path with a GET and a POST handler lists only
        # the methods of the first one it registers (its Allow comes from the route built
        # for that one). A controller registers its handlers by name: this one's sorts
        # first, so the path has an OPTIONS handler before either and keeps this one.
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @post(
        LOGIN_PATH,
        media_type="text/html",
        summary="Sign in with an officer key: sets the session cookie, 303 to the pages",
        responses=page_responses(400, 401, 403, 413, 415, redirects=True),
        operation_class=form_operation(LOGIN_FIELDS),
    )
    async def login(
        self, request: Request[Any, Any, Any], services: ServicesDep, lang: LangParam = None
    ) -> Response[str]:
        t = pages.texts(language_of(request))
        public_url = services.settings.public_url
        fields = await read_form(request)
        target = local_target(fields.get("next"))
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not same_origin(request, public_url) or not csrf_valid(
            services.page_secret, None if nonce is None else "login:" + nonce, fields.get("csrf")
        ):
            return _refuse_login(request, services, 403, t["login_csrf"], target)
        token = fields.get("key", "").strip()
        try:
            key = services.keys.authenticate(f"Bearer {token}")
        except AuthError:
            return _refuse_login(request, services, 401, t["login_bad_key"], target)
        if key.role != "officer":
            message = t["login_not_officer"].format(role=key.role)
            return _refuse_login(request, services, 403, message, target)
        response: Response[str] = Response(
            "", status_code=303, headers={"Location": target, "Cache-Control": "no-store"}
        )
        response.set_cookie(session_cookie(token, public_url))
        response.set_cookie(cleared_cookie(LOGIN_COOKIE, public_url, LOGIN_PATH))
        return response

    @post(
        "/officer/logout",
        media_type="text/html",
        summary="Sign out: clears the session cookie, 303 to the sign-in form",
        operation_class=form_operation(CSRF_ONLY),
        responses=page_responses(400, 401, 403, 413, 415, redirects=True),
        security=[{"bearer": []}],
    )
    async def logout(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[str]:
        public_url = services.settings.public_url
        session = "session:" + (session_credential(request) or "")
        await read_checked_form(request, services.page_secret, session, public_url)
        response: Response[str] = Response(
            "", status_code=303, headers={"Location": LOGIN_PATH, "Cache-Control": "no-store"}
        )
        response.set_cookie(cleared_cookie(SESSION_COOKIE, public_url))
        return response

    @get(
        HOME_PATH,
        sync_to_thread=True,
        media_type="text/html",
        summary="The officers' home: enterprise search (HTML, officer key or session)",
        responses=page_responses(400, 401, 403, redirects=True),
        security=[{"bearer": []}],
    )
    def home(
        self, request: Request[Any, Any, Any], services: ServicesDep, lang: LangParam = None
    ) -> Response[str]:
        shell = officer_shell(request, services)
        return html_response(pages.home_page(shell, Markup("")), lang=shell.lang)
