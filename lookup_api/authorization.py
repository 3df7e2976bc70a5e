"""Who may call which route: one table, enforced by one app-level hook before every handler.

Every route (method and path template, as in the OpenAPI document) has an entry naming
the callers it admits: ``anonymous`` (no key) and the key roles. The hook runs before
a handler reads the body, so an unauthorised caller never makes the server parse one.
It is Litestar's ``before_request`` of the app, not a guard: Litestar copies the route
handler for every guard call, which cost every request more than the decision itself.
A layer below the app with a ``before_request`` of its own would replace it (Litestar
takes the nearest), so none may have one (tests/test_authorization.py).

Three kinds of entry:

- ``PUBLIC``: anyone; an ``Authorization`` header is not even looked at (the resolver,
  tiles, proofs: answers that are the same for everyone and that a CDN may cache);
- ``KEYED_PUBLIC``: anyone, but a key that is presented is checked (401 when it is
  unknown, revoked or malformed), because it changes the answer (payload disclosure);
- ``only(...)``: a key of one of those roles; no key is 401, another role 403.
- ``OFFICER_PAGE``: an officer's HTML page. The key may come from the officers' session
  cookie (``lookup_api.pages.session``) as well as the header; a browser without a usable
  one is sent to the login page (303) and one with another role's key gets a refusal page
  (403), while an API client gets the same problem+json as on ``only("officer")``.

Finer rules stay with the route's service, after the hook: an enterprise key writes
only its own records (``lookup_api.routes.records.service.authorise``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, cast

from litestar.connection import ASGIConnection

from lookup_api.auth import ApiKey, AuthError
from lookup_api.middleware import KEY_REFUSED
from lookup_api.pages.answers import refusal, to_login
from lookup_api.pages.session import SESSION_COOKIE, wants_html
from lookup_api.problems import Problem
from lookup_api.roles import ROLES, Role

Caller = Literal["anonymous", "officer", "enterprise", "platform", "auditor"]
CALLERS: tuple[Caller, ...] = ("anonymous", *ROLES)
KEY_STATE = "credtrace.api_key"  # where the hook leaves the caller's key in the scope state
DOCUMENT = "/schema"
log = logging.getLogger("credtrace")


@dataclass(frozen=True)
class Access:
    callers: frozenset[Caller]
    reads_key: bool  # whether a presented key is authenticated
    page: bool = False  # an HTML page: the session cookie counts, browsers are redirected

    def admits(self, caller: Caller) -> bool:
        return caller in self.callers

    @property
    def needs_key(self) -> bool:
        return "anonymous" not in self.callers


PUBLIC = Access(frozenset(CALLERS), reads_key=False)
KEYED_PUBLIC = Access(frozenset(CALLERS), reads_key=True)


def only(*roles: Role) -> Access:
    return Access(frozenset(roles), reads_key=True)


OFFICER = only("officer")
WRITERS = only("officer", "enterprise")  # the enterprise's own records only (service rule)
CREDIT_READERS = only("officer", "auditor")
PLATFORMS = only("platform", "officer")
OFFICER_PAGE = Access(frozenset({"officer"}), reads_key=True, page=True)

ROUTES: dict[tuple[str, str], Access] = {
    # system
    ("GET", "/health"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # the log: envelopes, tiles, checkpoints and proofs are everyone's; payloads by role
    ("GET", "/checkpoint"): PUBLIC,
    ("GET", "/v1/ledger/key"): PUBLIC,
    ("GET", "/v1/ledger/checkpoints/{size}"): PUBLIC,
    ("GET", "/tile/{path}"): PUBLIC,
    ("GET", "/v1/ledger/entries"): KEYED_PUBLIC,
    ("GET", "/v1/ledger/entries/{index}"): KEYED_PUBLIC,
    ("GET", "/v1/ledger/entries/{index}/proof"): PUBLIC,
    ("GET", "/v1/ledger/proof/inclusion"): PUBLIC,
    ("GET", "/v1/ledger/proof/consistency"): PUBLIC,
    # writes
    ("POST", "/v1/records"): WRITERS,
    # state
    ("GET", "/v1/enterprises/{uscc}"): PUBLIC,
    ("GET", "/v1/products/{gtin}"): PUBLIC,
    ("GET", "/v1/batches/{gtin}/{batch}"): PUBLIC,
    # credit
    ("GET", "/v1/enterprises/{uscc}/credit"): CREDIT_READERS,
    ("POST", "/v1/batches/{gtin}/{batch}/decision"): OFFICER,
    ("POST", "/v1/draws"): OFFICER,
    ("GET", "/v1/draws/{draw_id}"): PUBLIC,
    ("GET", "/v1/credit/policies"): PUBLIC,
    ("GET", "/v1/credit/proposals"): CREDIT_READERS,
    # codes
    ("GET", "/v1/codes/keys"): PUBLIC,
    ("GET", "/v1/codes/{gtin}/{batch}/{serial}"): PUBLIC,
    ("GET", "/v1/codes/{gtin}/{batch}/{serial}/proof"): PUBLIC,
    ("POST", "/v1/codes/batches"): WRITERS,
    ("GET", "/v1/codes/batches/{entry}/images.zip"): WRITERS,
    # platforms
    ("POST", "/v1/verify/filings"): PLATFORMS,
    ("GET", "/v1/feed"): PUBLIC,  # the public view for everyone, so any cache may keep it
    # resolver and consumer page
    ("GET", "/01"): PUBLIC,  # no GTIN: always 400, answered by the resolver
    ("GET", "/01/{rest}"): PUBLIC,
    ("GET", "/.well-known/gs1resolver"): PUBLIC,
    ("GET", "/info/01"): PUBLIC,
    ("GET", "/info/01/{rest}"): PUBLIC,
    # the officers' pages; signing in is everyone's (the form checks the key itself)
    ("GET", "/officer/login"): PUBLIC,
    ("POST", "/officer/login"): PUBLIC,
    ("POST", "/officer/logout"): OFFICER_PAGE,
    ("GET", "/officer"): OFFICER_PAGE,
    ("GET", "/officer/enterprises/{uscc}"): OFFICER_PAGE,
    ("GET", "/officer/blacklist"): OFFICER_PAGE,
    ("GET", "/officer/proposals"): OFFICER_PAGE,
    ("GET", "/officer/records/new"): OFFICER_PAGE,
    ("POST", "/officer/records/new"): OFFICER_PAGE,
    ("GET", "/officer/ledger"): OFFICER_PAGE,
    ("GET", "/officer/ledger/{index}"): OFFICER_PAGE,
    ("GET", "/officer/dashboard"): OFFICER_PAGE,
    # the proof checker the ledger explorer loads is everyone's
    ("GET", "/assets/ledger-verify.js"): PUBLIC,
}


def unauthorised(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        type_="/problems/unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="credtrace"'},
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, type_="/problems/forbidden")


def _callers(access: Access) -> str:
    return ", ".join(c for c in CALLERS if access.admits(c))


async def authorise_request(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """The app's ``before_request``: the route's entry decides; the key, if any, is left
    for the handler (``caller_key``). It answers nothing itself (None): a refusal is
    raised, and answered as problem+json (or a page's redirect) like any error.

    Asynchronous, so that a public route's request (most of them) decides in the event
    loop; Litestar would run a synchronous hook in a worker thread for every request.
    Only a key that must be looked up in the database goes to a thread."""
    method = str(connection.scope.get("method", ""))
    if method == "OPTIONS":  # CORS preflights and Allow answers carry no data
        return
    template = connection.scope.get("path_template", "")
    if template == DOCUMENT or template.startswith(DOCUMENT + "/"):
        return  # the OpenAPI document and its viewers: public, and not in the document
    access = ROUTES.get((method, template))
    if access is None:  # fail closed: a route nobody listed is nobody's
        log.error("no authorisation entry for %s %s", method, template)
        raise forbidden(f"{method} {template} has no entry in the authorisation table")
    if not access.reads_key:
        return
    header = connection.headers.get("authorization")
    browser = access.page and wants_html(connection)
    if header is None and access.page and connection.cookies.get(SESSION_COOKIE):
        header = f"Bearer {connection.cookies[SESSION_COOKIE]}"
    services = connection.app.state.services
    if header is None:
        if access.needs_key:
            if browser:
                raise to_login(connection, services.settings.public_url)
            raise unauthorised(
                f"this route needs an API key of a {_callers(access)}: Authorization: Bearer ct_..."
            )
        return
    try:
        key = await services.keys.authenticate_async(header)
    except AuthError as exc:
        if browser:  # revoked since signing in, or a cookie nobody issued
            cast("dict[str, Any]", connection.scope)[KEY_REFUSED] = True
            raise to_login(connection, services.settings.public_url, expired=True) from exc
        raise unauthorised(str(exc)) from exc
    if not access.admits(key.role):
        message = f"a {key.role} key cannot use this route (needs {_callers(access)})"
        if browser:
            raise refusal(connection, 403, message)
        raise forbidden(message)
    connection.scope.setdefault("state", {})[KEY_STATE] = key


def caller_key(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey | None:
    """The key the hook authenticated for this request; None for an anonymous caller."""
    found: ApiKey | None = connection.scope.get("state", {}).get(KEY_STATE)
    return found


def required_key(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The caller's key on a route whose entry needs one (the hook has checked it)."""
    key = caller_key(connection)
    if key is None:  # only reachable when a route's entry and its handler disagree
        raise unauthorised("this route needs an API key: Authorization: Bearer ct_...")
    return key
