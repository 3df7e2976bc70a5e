"""The officers' pages in headless Chromium, against the app served live: sign in through
the form, follow the links, read what the page says, keep screenshots (360 px and
desktop) in the test's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.records.handlers.blacklist import listing_allowed_from
from lookup_api.auth import revoke_key
from lookup_api.pages.session import SESSION_COOKIE
from lookup_api.routes.officer.pages import CHINA
from tests.browser import LiveSite, screenshots, sign_in
from tests.factories import uscc
from tests.officer_env import LISTED, NOTICED, SERIOUS, XSS_NAME, Seeded, seed_officer_pages

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
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/officer"
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


@pytest.fixture
def seeded(live_site: LiveSite) -> Seeded:
    return seed_officer_pages(live_site.services.ledger)


def _rows(page: Any) -> list[str]:
    return [row.inner_text() for row in page.locator("main tbody tr").all()]


def test_search_pages_through_results_and_shows_markup_as_text(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:  # a script of the page's data would open one
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, live_site)
    page.fill("input[name=q]", "普通贸易")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert len(_rows(page)) == 20
    screenshots(page, tmp_path, "search")
    page.click("text=下一页")
    page.wait_for_load_state()
    assert len(_rows(page)) == 5 and "page=2" in page.url
    page.fill("input[name=q]", "<script")  # a name matches from its start on SQLite
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    (row,) = _rows(page)
    assert XSS_NAME in row  # the name, as text
    assert dialogs == []
    page.click(f"text={uscc(1)}")
    page.wait_for_load_state()
    assert page.locator("main section h2").first.inner_text() == XSS_NAME
    assert dialogs == []
    screenshots(page, tmp_path, "markup-name")


def test_the_enterprise_page_shows_grade_reasons_and_links_their_entries(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, live_site, path=f"/officer/enterprises/{SERIOUS}")
    assert page.url == f"{live_site.url}/officer/enterprises/{SERIOUS}"
    assert page.locator(".grade").inner_text() == "D"
    assert "可发出列入告知" in page.locator(".banner.warn").inner_text()
    reasons = page.locator("section", has_text="评级依据").locator("tbody tr").all()
    assert reasons
    screenshots(page, tmp_path, "enterprise")
    page.click("text=English")
    assert page.locator("h1").inner_text().startswith("Enterprise credit")
    screenshots(page, tmp_path, "enterprise-en")
    page.click(f"text=#{seeded.violations[0]}")
    page.wait_for_load_state()
    assert page.url.endswith(f"/v1/ledger/entries/{seeded.violations[0]}")
    assert '"violation.recorded"' in page.content()


def test_the_blacklist_shows_noticed_and_listed_with_their_dates(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, live_site)
    page.click("header >> text=失信名单")
    page.wait_for_load_state()
    assert page.url == live_site.url + "/officer/blacklist"
    rows = _rows(page)
    assert len(rows) == 2
    listed = next(r for r in rows if LISTED in r)
    noticed = next(r for r in rows if NOTICED in r)
    assert "已列入" in listed and "已告知" in noticed
    # The listing wait is the ledger's own: 30 days after the notice's time.
    earliest = listing_allowed_from(seeded.noticed_time).astimezone(CHINA)
    assert earliest.strftime("%Y-%m-%d %H:%M") in noticed
    screenshots(page, tmp_path, "blacklist")


def test_a_proposal_leads_to_the_notice_form_and_filing_it_lists_the_notice(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, live_site)
    page.click("header >> text=拟列入名单")
    page.wait_for_load_state()
    (row,) = _rows(page)
    assert SERIOUS in row
    screenshots(page, tmp_path, "proposals")
    page.click("text=登记列入告知")
    page.wait_for_load_state()
    assert page.input_value("input[name='f.uscc']") == SERIOUS
    size = live_site.services.ledger.size()
    page.fill("input[name='f.reason']", "三次掺杂掺假")
    screenshots(page, tmp_path, "notice-form")
    page.click("main form.stack button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".banner.good").inner_text() == "记录已追加到账本。"
    assert f"#{size}" in page.locator("main dl").inner_text()
    screenshots(page, tmp_path, "recorded")
    page.click("header >> text=失信名单")
    page.wait_for_load_state()
    assert any(SERIOUS in r and "已告知" in r for r in _rows(page))
    page.click("header >> text=拟列入名单")
    page.wait_for_load_state()
    assert _rows(page) == []


def test_a_bad_record_is_shown_back_with_its_error_and_nothing_written(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, live_site)
    page.click("header >> text=登记记录")
    page.wait_for_load_state()
    page.select_option("select[name=kind]", "violation.recorded")
    page.click("main form.inline button[type=submit]")
    page.wait_for_load_state()
    size = live_site.services.ledger.size()
    page.fill("input[name='f.uscc']", SERIOUS)
    page.fill("input[name='f.item']", "ciq.no-such-item")
    page.fill("input[name='f.occurred_on']", "2026-11-01")
    page.fill("input[name='f.case_no']", "SZ-1")
    page.click("main form.stack button[type=submit]")
    page.wait_for_load_state()
    assert "item" in page.locator("[role=alert]").inner_text()
    assert page.input_value("input[name='f.case_no']") == "SZ-1"  # kept, to correct
    assert live_site.services.ledger.size() == size
    screenshots(page, tmp_path, "record-error")
