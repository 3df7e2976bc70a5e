"""The officers' session on the real app: sign-in, the cookie's flags, the guard's answers
to browsers and API clients, CSRF and origin checks on every form."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key, revoke_key
from lookup_api.pages.csrf import SECRET_FILE
from lookup_api.pages.session import LOGIN_COOKIE, SESSION_COOKIE, is_secure
from lookup_api.ratelimit import RateLimits, RatePolicy
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.codes_env import OWNER, add
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SAME_SITE = {**BROWSER, "Origin": "http://testserver.local"}


@dataclass
class Site:
    client: TestClient[Litestar]
    services: Services
    officer: str


def open_site(tmp_path: Path, public_url: str, limits: RateLimits | None = None) -> Iterator[Site]:
    settings = Settings(
        ledger=LedgerConfig(f"sqlite:///{tmp_path / 'pages.db'}", tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        public_url=public_url,
        rate_limits=limits or RateLimits(enabled=False),
    )
    services = Services.open(settings)
    try:
        add(services.ledger, "enterprise.filed", enterprise_payload(4, roles=["importer"]))
        officer = create_key(services.engine, "officer")[1]
        # The client talks to the service at its public URL (a Secure cookie needs https).
        base = public_url if public_url.startswith("https") else "http://testserver.local"
        with TestClient(create_app(settings, services), base_url=base) as client:
            yield Site(client, services, officer)
    finally:
        services.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path, "http://127.0.0.1:8000")


def login_token(site: Site) -> str:
    """Open the login form (which sets its nonce cookie) and read its CSRF token."""
    form = site.client.get("/officer/login", headers=BROWSER)
    assert form.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found is not None
    return found.group(1)


def page_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def sign_in(site: Site, key: str | None = None) -> None:
    token = login_token(site)
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": key or site.officer, "next": "/officer"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/officer"


def test_the_session_cookie_is_httponly_strict_and_holds_the_key(site: Site) -> None:
    token = login_token(site)
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": site.officer, "next": "/officer/blacklist"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/officer/blacklist"
    (line,) = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    flags = {part.strip().lower() for part in line.split(";")[1:]}
    assert {"httponly", "path=/officer", "samesite=strict"} <= flags
    assert "secure" not in flags  # plain http on the loopback: the local demo
    assert site.client.cookies[SESSION_COOKIE] == site.officer
    assert site.client.get("/officer", headers=BROWSER).status_code == 200


def test_over_https_the_cookie_is_secure(tmp_path: Path) -> None:
    for site in open_site(tmp_path, "https://credit.example.cn"):
        token = login_token(site)
        response = site.client.post(
            "/officer/login",
            data={"csrf": token, "key": site.officer, "next": ""},
            headers={**BROWSER, "Origin": "https://credit.example.cn"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        (line,) = [
            c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        ]
        assert "secure" in {part.strip().lower() for part in line.split(";")[1:]}


def test_over_plain_http_off_the_loopback_the_cookies_are_still_secure(tmp_path: Path) -> None:
    """A deployment that forgot its https URL never sends an officer's key in clear: the
    browser keeps the cookies for https, so over plain http nobody can even sign in."""
    for site in open_site(tmp_path, "http://credit.example.cn"):
        form = site.client.get("/officer/login", headers=BROWSER)
        (line,) = [c for c in form.headers.get_list("set-cookie") if c.startswith(LOGIN_COOKIE)]
        assert "secure" in {part.strip().lower() for part in line.split(";")[1:]}
    assert is_secure("https://credit.example.cn")
    assert is_secure("http://credit.example.cn")
    assert is_secure("http://10.0.0.8:8000")
    assert not is_secure("http://127.0.0.1:8000")
    assert not is_secure("http://localhost:8000")


def _signed_in_csrf(site: Site) -> str:
    token = login_token(site)
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": site.officer, "next": "/officer"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = site.client.get("/officer", headers=BROWSER)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_a_new_sign_in_makes_the_older_pages_tokens_worthless(site: Site) -> None:
    first = _signed_in_csrf(site)
    second = _signed_in_csrf(site)
    assert first != second
    stale = site.client.post(
        "/officer/logout", data={"csrf": first}, headers=SAME_SITE, follow_redirects=False
    )
    assert stale.status_code == 403
    fresh = site.client.post(
        "/officer/logout", data={"csrf": second}, headers=SAME_SITE, follow_redirects=False
    )
    assert fresh.status_code == 303


@pytest.mark.parametrize("target", ["/officer/\u4e2d", "/officer/\u00e9"])
def test_a_non_ascii_next_page_falls_back_to_the_home_page(site: Site, target: str) -> None:
    token = login_token(site)
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": site.officer, "next": target},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/officer"


def test_a_page_past_any_register_is_400_not_an_overflow(site: Site) -> None:
    _signed_in_csrf(site)
    response = site.client.get("/officer?page=461168601842738792", headers=BROWSER)
    assert response.status_code == 400


def test_the_csrf_secret_is_owner_only(site: Site, tmp_path: Path) -> None:
    mode = stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode)
    assert mode == 0o600


def test_a_browser_without_a_session_is_sent_to_sign_in_and_an_api_client_gets_401(
    site: Site,
) -> None:
    response = site.client.get("/officer?lang=en", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/officer/login?next=/officer%3Flang%3Den"
    api = site.client.get("/officer", follow_redirects=False)
    assert api.status_code == 401
    assert api.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", ["enterprise", "platform", "auditor"])
def test_another_roles_key_in_the_cookie_is_refused_with_403(site: Site, role: str) -> None:
    key = create_key(site.services.engine, role, OWNER if role == "enterprise" else None)[1]
    site.client.cookies.set(SESSION_COOKIE, key)
    response = site.client.get("/officer", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert role in response.text
    # Nor can it sign in through the form.
    site.client.cookies.clear()
    token = login_token(site)
    refused = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": key, "next": "/officer"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert SESSION_COOKIE not in refused.cookies


def test_a_wrong_key_re_renders_the_form_with_401(site: Site) -> None:
    token = login_token(site)
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": "ct_abc_wrong", "next": "/officer"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert 'role="alert"' in response.text and 'name="key"' in response.text
    assert SESSION_COOKIE not in site.client.cookies


def test_a_revoked_key_goes_back_to_sign_in_on_its_next_request(site: Site) -> None:
    key, token = create_key(site.services.engine, "officer")
    sign_in(site, token)
    assert site.client.get("/officer", headers=BROWSER).status_code == 200
    assert revoke_key(site.services.engine, key.key_id)
    response = site.client.get("/officer", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/officer/login?next=/officer&expired=1"
    assert SESSION_COOKIE not in site.client.cookies  # cleared by the answer


@pytest.mark.parametrize(
    ("case", "headers", "csrf"),
    [
        ("missing token", SAME_SITE, None),
        ("wrong token", SAME_SITE, "not-the-token"),
        ("other origin", {**BROWSER, "Origin": "https://evil.example"}, "valid"),
        ("no origin nor referer", BROWSER, "valid"),
        ("other referer", {**BROWSER, "Referer": "https://evil.example/x"}, "valid"),
    ],
)
def test_a_login_without_a_valid_token_from_this_site_is_403(
    site: Site, case: str, headers: dict[str, str], csrf: str | None
) -> None:
    token = login_token(site)
    form = {"key": site.officer, "next": "/officer"}
    if csrf is not None:
        form["csrf"] = token if csrf == "valid" else csrf
    response = site.client.post(
        "/officer/login", data=form, headers=headers, follow_redirects=False
    )
    assert response.status_code == 403, case
    assert SESSION_COOKIE not in site.client.cookies, case


def test_the_login_token_is_bound_to_its_browser(site: Site) -> None:
    token = login_token(site)
    site.client.cookies.set(LOGIN_COOKIE, "another-browsers-nonce", path="/officer/login")
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": site.officer},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("case", "headers", "csrf"),
    [
        ("missing token", SAME_SITE, None),
        ("wrong token", SAME_SITE, "not-the-token"),
        ("other origin", {**BROWSER, "Origin": "https://evil.example"}, "valid"),
    ],
)
def test_a_logout_without_a_valid_token_changes_nothing(
    site: Site, case: str, headers: dict[str, str], csrf: str | None
) -> None:
    sign_in(site)
    home = site.client.get("/officer", headers=BROWSER)
    form = {} if csrf is None else {"csrf": page_token(home.text) if csrf == "valid" else csrf}
    response = site.client.post(
        "/officer/logout", data=form, headers=headers, follow_redirects=False
    )
    assert response.status_code == 403, case
    assert site.client.cookies[SESSION_COOKIE] == site.officer
    api = site.client.post(
        "/officer/logout", data=form, headers={k: v for k, v in headers.items() if k != "Accept"}
    )
    assert api.status_code == 403
    assert api.headers["content-type"].startswith("application/problem+json")


def test_logout_with_its_token_clears_the_cookie(site: Site) -> None:
    sign_in(site)
    home = site.client.get("/officer", headers=BROWSER)
    response = site.client.post(
        "/officer/logout",
        data={"csrf": page_token(home.text)},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/officer/login"
    assert SESSION_COOKIE not in site.client.cookies
    assert site.client.get("/officer", headers=BROWSER, follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/elsewhere", "/officer/login", "\\\\x"]
)
def test_sign_in_never_redirects_off_the_officer_pages(site: Site, target: str) -> None:
    token = login_token(site)
    response = site.client.post(
        "/officer/login",
        data={"csrf": token, "key": site.officer, "next": target},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/officer"


def test_a_form_field_given_twice_or_a_json_body_is_refused(site: Site) -> None:
    token = login_token(site)
    twice = site.client.post(
        "/officer/login",
        content=f"csrf={token}&key=a&key=b",
        headers={**SAME_SITE, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    json_body = site.client.post("/officer/login", json={"key": "x"}, headers=SAME_SITE)
    assert json_body.status_code == 415


def test_options_on_the_login_names_both_its_methods(site: Site) -> None:
    response = site.client.options("/officer/login")
    assert response.status_code == 204
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "OPTIONS", "POST"}


def test_options_on_the_record_form_names_both_its_methods(site: Site) -> None:
    response = site.client.options("/officer/records/new")
    assert response.status_code == 204
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "OPTIONS", "POST"}


def test_bad_keys_on_the_login_form_count_against_the_address(tmp_path: Path) -> None:
    limits = RateLimits(auth_failures=RatePolicy("auth_failures", 3, 3600))
    for site in open_site(tmp_path, "http://127.0.0.1:8000", limits):
        statuses = []
        for _ in range(4):
            token = login_token(site)
            statuses.append(
                site.client.post(
                    "/officer/login",
                    data={"csrf": token, "key": "ct_abc_wrong"},
                    headers=SAME_SITE,
                ).status_code
            )
        assert statuses == [401, 401, 401, 429]
        # The right key from that address waits too: it is refused unread.
        token = login_token(site)
        refused = site.client.post(
            "/officer/login", data={"csrf": token, "key": site.officer}, headers=SAME_SITE
        )
        assert refused.status_code == 429
        assert SESSION_COOKIE not in site.client.cookies


def test_a_session_is_rate_limited_as_its_key(tmp_path: Path) -> None:
    for site in open_site(tmp_path, "http://127.0.0.1:8000", RateLimits()):
        sign_in(site)
        response = site.client.get("/officer", headers=BROWSER)
        assert response.status_code == 200
        assert response.headers["ratelimit-policy"].startswith('"key"')
        site.client.cookies.clear()
        anonymous = site.client.get("/officer/login", headers=BROWSER)
        assert anonymous.headers["ratelimit-policy"].startswith('"public"')


def test_bad_keys_in_the_session_cookie_count_against_the_address(tmp_path: Path) -> None:
    limits = RateLimits(auth_failures=RatePolicy("auth_failures", 3, 3600))
    for site in open_site(tmp_path, "http://127.0.0.1:8000", limits):
        statuses = []
        for n in range(4):
            site.client.cookies.set(SESSION_COOKIE, f"ct_guess{n}_secret")
            response = site.client.get("/officer", headers=BROWSER, follow_redirects=False)
            statuses.append(response.status_code)
        assert statuses == [303, 303, 303, 429]
