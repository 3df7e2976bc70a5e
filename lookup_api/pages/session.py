"""The officers' browser session: the API key in a cookie, CSRF tokens, origin checks.

The session cookie holds the officer's API key itself (``HttpOnly``, ``SameSite=Strict``,
``Path=/officer`` so no other route of the origin ever receives it, and ``Secure`` unless
the service is served over plain http on this host's loopback), so a page is authenticated
exactly as an API call is, on every request: a revoked key is refused on its next page.

Every form POST carries a CSRF token, HMAC-SHA256 under a server-side secret of what
authenticates the form: the session's key and a random per-sign-in cookie once signed in
(a new sign-in makes every older page's token worthless), a random login cookie on the
login form. The token is compared in constant time, and the request's ``Origin`` (or,
without one, its ``Referer``) must be this service.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from lookup_api.pages.csrf import csrf_token, csrf_valid

__all__ = ["csrf_token", "csrf_valid"]  # the tokens, for the pages that issue and check them

SESSION_COOKIE = "credtrace_officer"
LOGIN_COOKIE = "credtrace_login"  # the login form's own nonce, before there is a key
SIGN_IN_COOKIE = "credtrace_sign_in"  # a nonce per sign-in, which the CSRF tokens bind to
CSRF_FIELD = "csrf"
LOGIN_PATH = "/officer/login"
HOME_PATH = "/officer"
PAGES_PATH = HOME_PATH  # the session cookies' path: only the officers' pages receive them
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SESSION_SECONDS = 8 * 3600  # a working day; the key itself stays valid until revoked


def wants_html(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """A browser (it asks for HTML); API clients keep their problem+json answers."""
    return "text/html" in connection.headers.get("accept", "").lower()


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(connection: ASGIConnection[Any, Any, Any, Any], public_url: str) -> bool:
    """Whether the form was sent from one of this service's own pages: ``Origin`` (or,
    lacking it, ``Referer``) is the public URL's origin or the one the request reached."""
    sent = connection.headers.get("origin") or connection.headers.get("referer")
    if not sent:
        return False
    origin = _origin_of(sent)
    own = {_origin_of(public_url), _origin_of(str(connection.base_url))}
    return origin is not None and origin in own


def session_credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The key that authenticates this request, as the authorisation hook reads it: the bearer
    token, else the session cookie."""
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    return connection.cookies.get(SESSION_COOKIE) or None


def session_token(cookie_header: str) -> str | None:
    """The session cookie's key in a raw ``Cookie`` header (for the ASGI wrappers, which
    run before Litestar parses cookies)."""
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == SESSION_COOKIE and value:
            return value.strip('"')
    return None


def binding(credential: str, sign_in: str | None) -> str:
    """What a signed-in form's CSRF token is bound to: the key and the sign-in's nonce
    (none for a client that sends its key as a bearer token and has no sign-in)."""
    return f"session:{credential}\0{sign_in or ''}"


def session_binding(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return binding(session_credential(connection) or "", connection.cookies.get(SIGN_IN_COOKIE))


def is_secure(public_url: str) -> bool:
    """Cookies are ``Secure`` except for plain http on the loopback (the local demo),
    where no network carries them: a deployment that forgets its https URL still never
    sends an officer's key in clear."""
    parts = urlsplit(public_url)
    return not (parts.scheme.lower() == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)


def session_cookie(token: str, public_url: str, key: str = SESSION_COOKIE) -> Cookie:
    return Cookie(
        key=key,
        value=token,
        path=PAGES_PATH,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=is_secure(public_url),
    )


def cleared_cookie(key: str, public_url: str, path: str = PAGES_PATH) -> Cookie:
    return Cookie(
        key=key,
        value="",
        path=path,
        max_age=0,
        httponly=True,
        samesite="strict",
        secure=is_secure(public_url),
    )


def login_cookie(nonce: str, public_url: str) -> Cookie:
    return Cookie(
        key=LOGIN_COOKIE,
        value=nonce,
        path=LOGIN_PATH,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=is_secure(public_url),
    )


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def local_target(target: str | None) -> str:
    """Where to go after signing in: an officer page of this service, nothing else
    (``//host`` or ``https://...`` would make the login an open redirect)."""
    if (
        target
        and target.startswith(HOME_PATH)
        and not target.startswith("//")
        and "\\" not in target
        and target.isascii()  # it goes into a Location header as it is
        and target.isprintable()
        and len(target) <= 512
        and not target.startswith(LOGIN_PATH)
    ):
        return target
    return HOME_PATH
