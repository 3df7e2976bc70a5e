"""The officers' pages in headless Chromium, against the app served live: sign in through
the form, follow the links, read what the page says, keep screenshots (360 px and
desktop) in the test's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lookup_api.auth import revoke_key
from lookup_api.pages.session import SESSION_COOKIE
from tests.browser import LiveSite, screenshots, sign_in

pytestmark = pytest.mark.slow


def test_sign_in_sets_an_httponly_strict_cookie_and_opens_the_pages(
    live_site: LiveSite, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    page.goto(live_site.url + "/officer")
    assert page.url.startswith(live_site.url + "/officer/login?next=/officer")
    screenshots(page, tmp_path, "login")
    page.fill("input[name=key]", live_site.officer_token)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url == live_site.url + "/officer"
    assert page.locator("h1").inner_text() == "企业查询"
    (cookie,) = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # served over http here; https sets Secure
    # The page's own script cannot read the key.
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Enterprise search"
    screenshots(page, tmp_path, "home")
    page.click("header button[type=submit]")  # sign out
    page.wait_for_load_state()
    assert page.url.startswith(live_site.url + "/officer/login")
    assert [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE] == []


def test_a_wrong_key_is_told_and_a_revoked_one_sent_back_to_sign_in(
    live_site: LiveSite, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, live_site, "ct_0000_notakey")
    assert "/officer/login" in page.url
    assert page.locator("[role=alert]").inner_text() == "密钥无效或已注销。"
    auditor = live_site.key("auditor")
    sign_in(page, live_site, auditor)
    assert "auditor" in page.locator("[role=alert]").inner_text()
    screenshots(page, tmp_path, "refused")
    token = live_site.key("officer")
    sign_in(page, live_site, token)
    assert page.url == live_site.url + "/officer"
    key_id = token.split("_")[1]
    assert revoke_key(live_site.services.engine, key_id)
    page.reload()
    assert "/officer/login" in page.url and "expired=1" in page.url
    assert "注销" in page.locator("[role=alert]").inner_text()
