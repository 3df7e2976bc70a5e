"""The officers' pages (HTML): signing in and out, and the pages behind an officer key.

Handlers stay thin: the data comes from the routes' own services, the HTML from the pure
functions in ``pages``. Every form POST is checked for origin and CSRF token before it
does anything (``lookup_api.pages.forms``).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, route
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from credit.policy import all_policies
from ledger.records.ids import normalise_uscc
from lookup_api.auth import AuthError
from lookup_api.authorization import required_key
from lookup_api.dependencies import ServicesDep
from lookup_api.pages.answers import language_of, shown
from lookup_api.pages.forms import form_operation, read_checked_form, read_form
from lookup_api.pages.layout import OFFICER_NAV, Shell, html_response
from lookup_api.pages.session import (
    HOME_PATH,
    LOGIN_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    cleared_cookie,
    csrf_token,
    csrf_valid,
    local_target,
    login_cookie,
    new_nonce,
    same_origin,
    session_binding,
    session_cookie,
    wants_html,
)
from lookup_api.params import parse_decimal
from lookup_api.problems import Problem, bad_request, problem_responses, quoted
from lookup_api.routes.credit.controller import AsOfParam, PolicyParam, credit_view
from lookup_api.routes.credit.service import parse_day, policy_named, proposals_of
from lookup_api.routes.officer import pages
from lookup_api.routes.officer.service import (
    FORM_KINDS,
    MAX_PAGE,
    MAX_QUERY,
    FormInputError,
    blacklist_of,
    form_fields,
    payload_from_form,
    search_enterprises,
)
from lookup_api.routes.records.service import submit
from lookup_api.routes.state.controller import (
    UsccPath,
    _identifier,
    enterprise_profile,
    today_in_china,
)
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
QueryText = Annotated[
    str | None,
    QueryParameter(name="q", max_length=200, description="a name, or the start of a USCC"),
]
PageParam = Annotated[
    str | None,
    QueryParameter(
        name="page",
        description="the page of results, from 1",
        schema_extra={"type": "integer", "minimum": 1, "maximum": 2**62, "oneOf": None},
    ),
]
KindParam = Annotated[
    str | None, QueryParameter(name="kind", max_length=64, description="the record kind to file")
]
RECORD_FORM = "/officer/records/new"
GET_AND_POST = "GET, OPTIONS, POST"
CSRF_ONLY = {"csrf": "the form's CSRF token, as the page gave it"}
LOGIN_FIELDS = {
    **CSRF_ONLY,
    "key": "an officer API key, ct_<key id>_<secret>",
    "next": "the officer page to go to after",
}
RECORD_FIELDS = {
    **CSRF_ONLY,
    "kind": "the record kind",
    "payload_json": "the payload as JSON (or f.<field> fields, one per payload field)",
}
SEE_OTHER = ResponseSpec(None, description="Done (or sign in first): go to Location")


def page_responses(*statuses: int, redirects: bool = False) -> dict[int, ResponseSpec]:
    found = problem_responses(*statuses)
    if redirects:
        found[303] = SEE_OTHER
    return found


def officer_shell(request: Request[Any, Any, Any], services: Services) -> Shell:
    """The shell of a page behind the officer key: the sections and the sign-out form."""
    return Shell(
        language_of(request),
        request.url.path,
        {k: v for k, v in request.query_params.items() if isinstance(v, str)},
        nav=OFFICER_NAV,
        logout_csrf=csrf_token(services.page_secret, session_binding(request)),
    )


def _record_form(
    request: Request[Any, Any, Any],
    services: Services,
    kind: str | None,
    values: dict[str, str],
    payload_json: str,
    *,
    error: str | None = None,
) -> pages.RecordForm:
    session = session_binding(request)
    return pages.RecordForm(
        kinds=FORM_KINDS,
        kind=kind,
        fields=() if kind is None else form_fields(kind),
        values=values,
        payload_json=payload_json,
        csrf=csrf_token(services.page_secret, session),
        request_key=secrets.token_urlsafe(16),
        error=error,
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


LINKED_FIELDS = frozenset({"uscc", "gtin", "batch"})


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

    # Litestar's own OPTIONS answer for a path with a GET and a POST handler lists only
    # the methods of the first one it registers (its Allow comes from the route built for
    # that one). A controller registers its handlers in the order of their qualified
    # names: these sort first, so each such path gets its own OPTIONS handler first.
    @route(LOGIN_PATH, http_method=["OPTIONS"], include_in_schema=False, sync_to_thread=False)
    def allow_login(self) -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": GET_AND_POST})

    @route(RECORD_FORM, http_method=["OPTIONS"], include_in_schema=False, sync_to_thread=False)
    def allow_record_form(self) -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": GET_AND_POST})

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
            key = await services.keys.authenticate_async(f"Bearer {token}")
        except AuthError:
            return _refuse_login(request, services, 401, t["login_bad_key"], target)
        if key.role != "officer":
            message = t["login_not_officer"].format(role=key.role)
            return _refuse_login(request, services, 403, message, target)
        response: Response[str] = Response(
            "", status_code=303, headers={"Location": target, "Cache-Control": "no-store"}
        )
        response.set_cookie(session_cookie(token, public_url))
        response.set_cookie(session_cookie(new_nonce(), public_url, SIGN_IN_COOKIE))
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
        session = session_binding(request)
        await read_checked_form(request, services.page_secret, session, public_url)
        response: Response[str] = Response(
            "", status_code=303, headers={"Location": LOGIN_PATH, "Cache-Control": "no-store"}
        )
        response.set_cookie(cleared_cookie(SESSION_COOKIE, public_url))
        response.set_cookie(cleared_cookie(SIGN_IN_COOKIE, public_url))
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
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        lang: LangParam = None,
        q: QueryText = None,
        page: PageParam = None,
    ) -> Response[str]:
        shell = officer_shell(request, services)
        try:
            number = 1 if page is None else parse_decimal(page, "page", minimum=1)
            if number > MAX_PAGE:
                raise bad_request(f"page must be at most {MAX_PAGE}, got {number}", field="page")
            query = (q or "").strip()
            if len(query) > MAX_QUERY:
                raise bad_request(f"q is at most {MAX_QUERY} characters", field="q")
        except Problem as exc:
            raise shown(request, exc) from exc
        found = search_enterprises(services, query, number)
        return html_response(pages.home_page(shell, found), lang=shell.lang)

    @get(
        "/officer/enterprises/{uscc:str}",
        sync_to_thread=True,
        media_type="text/html",
        summary="An enterprise's grade with its reasons, measures and history (HTML, officer)",
        responses=page_responses(400, 401, 403, 404, redirects=True),
        security=[{"bearer": []}],
    )
    def enterprise(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        uscc: UsccPath,
        *,
        lang: LangParam = None,
        policy: PolicyParam = None,
        as_of: AsOfParam = None,
    ) -> Response[str]:
        shell = officer_shell(request, services)
        try:
            code = _identifier(uscc, "uscc", normalise_uscc)
            chosen = policy_named(policy)
            view = credit_view(services, code, chosen, parse_day(as_of))
        except Problem as exc:
            raise shown(request, exc) from exc
        with services.engine.connect() as conn:
            profile = enterprise_profile(conn, services.ledger, code, chosen, today_in_china())
        if profile is None:  # filed a moment ago and already gone cannot happen: filings stay
            raise shown(request, Problem(404, "Not found", f"enterprise {code} is not filed"))
        policies = [p.id for p in all_policies()]
        document = pages.enterprise_page(shell, profile, view, policies)
        return html_response(document, lang=shell.lang)

    @get(
        "/officer/blacklist",
        sync_to_thread=True,
        media_type="text/html",
        summary="Noticed and listed enterprises with their due-process dates (HTML, officer)",
        responses=page_responses(400, 401, 403, redirects=True),
        security=[{"bearer": []}],
    )
    def blacklist(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        lang: LangParam = None,
        policy: PolicyParam = None,
    ) -> Response[str]:
        shell = officer_shell(request, services)
        try:
            chosen = policy_named(policy)
        except Problem as exc:
            raise shown(request, exc) from exc
        standings = blacklist_of(services, chosen, today_in_china())
        return html_response(pages.blacklist_page(shell, standings), lang=shell.lang)

    @get(
        "/officer/proposals",
        sync_to_thread=True,
        media_type="text/html",
        summary="Enterprises proposed for blacklist.noticed (HTML, officer)",
        responses=page_responses(400, 401, 403, redirects=True),
        security=[{"bearer": []}],
    )
    def proposals(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        lang: LangParam = None,
        policy: PolicyParam = None,
    ) -> Response[str]:
        shell = officer_shell(request, services)
        try:
            found = proposals_of(services, policy_named(policy))
        except Problem as exc:
            raise shown(request, exc) from exc
        return html_response(pages.proposals_page(shell, found), lang=shell.lang)

    @get(
        RECORD_FORM,
        sync_to_thread=False,
        media_type="text/html",
        summary="The form to file a record (HTML, officer)",
        responses=page_responses(400, 401, 403, redirects=True),
        security=[{"bearer": []}],
    )
    def record_form(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        lang: LangParam = None,
        kind: KindParam = None,
    ) -> Response[str]:
        shell = officer_shell(request, services)
        if kind is not None and kind not in FORM_KINDS:
            problem = bad_request(f"kind {quoted(kind)} is not a kind filed here", field="kind")
            raise shown(request, problem)
        # Only the subject comes from a link (the proposals page names the enterprise): a
        # mailed link must not hand an officer a filled-in listing to sign.
        values = {
            k: v
            for k, v in request.query_params.items()
            if k in LINKED_FIELDS and isinstance(v, str)
        }
        form = _record_form(request, services, kind, values, "")
        return html_response(pages.record_form_page(shell, form), lang=shell.lang)

    @post(
        RECORD_FORM,
        media_type="text/html",
        summary="File a record from the form: appended as POST /v1/records does (officer)",
        operation_class=form_operation(RECORD_FIELDS),
        responses=page_responses(400, 401, 403, 413, 415, 422),
        security=[{"bearer": []}],
    )
    async def file_record(
        self, request: Request[Any, Any, Any], services: ServicesDep, lang: LangParam = None
    ) -> Response[str]:
        key = required_key(request)
        session = session_binding(request)
        fields = await read_checked_form(
            request, services.page_secret, session, services.settings.public_url
        )
        shell = officer_shell(request, services)
        kind = fields.get("kind", "")
        if kind not in FORM_KINDS:
            problem = bad_request(f"kind {quoted(kind)} is not a kind filed here", field="kind")
            raise shown(request, problem)
        values = {name[2:]: v for name, v in fields.items() if name.startswith("f.")}
        payload_json = fields.get("payload_json", "")
        request_key = fields.get("request_key") or None
        try:
            payload = payload_from_form(kind, values, payload_json)
            entry, receipt = await submit(services, key, kind, payload, request_key)
        except (Problem, FormInputError) as exc:
            if isinstance(exc, Problem) and not wants_html(request):
                raise
            status = exc.status_code if isinstance(exc, Problem) else 400
            detail = exc.detail if isinstance(exc, Problem) else str(exc)
            form = _record_form(request, services, kind, values, payload_json, error=detail)
            if request_key:
                form = replace(form, request_key=request_key)
            document = pages.record_form_page(shell, form)
            return html_response(document, status, lang=shell.lang)
        done = pages.Recorded(
            index=receipt.index,
            kind=entry.kind,
            subject=entry.subject,
            leaf_hash=base64.b64encode(receipt.leaf_hash).decode(),
            checkpoint_size=receipt.checkpoint.size,
            repeated=receipt.repeated,
        )
        headers = {"Location": f"/v1/ledger/entries/{receipt.index}"}
        return html_response(
            pages.recorded_page(shell, done), 201, lang=shell.lang, headers=headers
        )
