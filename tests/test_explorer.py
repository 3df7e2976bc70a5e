"""The ledger explorer's pages (officer) and the proof checker they load: what an entry
page carries for the browser, paging newest first, and refusals. The check itself runs in
Chromium (tests/test_explorer_browser.py)."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

from lookup_api.routes.explorer.service import PAGE_SIZE
from tests.pages_env import DISHONEST, Site, reading_site

__all__ = ["reading_site"]  # the fixture


def _indices(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr><td><a href="/officer/ledger/(\d+)[?"]', html)]


def test_pages_of_entries_newest_first(reading_site: Site) -> None:
    size = reading_site.services.ledger.size()
    assert size > 2 * PAGE_SIZE - 10
    first = reading_site.client.get("/officer/ledger?lang=en", headers=reading_site.officer)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    assert _indices(first.text) == list(range(size - 1, size - 1 - PAGE_SIZE, -1))
    assert 'rel="prev"' not in first.text
    older = re.search(r'rel="next" href="/officer/ledger\?before=(\d+)[&"]', first.text)
    assert older is not None and int(older.group(1)) == size - PAGE_SIZE
    seen = _indices(first.text)
    before: int | None = int(older.group(1))
    while before is not None:
        page = reading_site.client.get(
            f"/officer/ledger?before={before}", headers=reading_site.officer
        ).text
        seen += _indices(page)
        found = re.search(r'rel="next" href="/officer/ledger\?before=(\d+)[&"]', page)
        before = int(found.group(1)) if found else None
    assert seen == list(range(size - 1, -1, -1))


def test_an_entry_page_hands_the_checker_its_leaf_input(reading_site: Site) -> None:
    index = reading_site.seeded.index["d1"]
    response = reading_site.client.get(
        f"/officer/ledger/{index}?lang=en", headers=reading_site.officer
    )
    assert response.status_code == 200, response.text
    html = response.text
    entry = reading_site.client.get(
        f"/v1/ledger/entries/{index}", headers=reading_site.officer
    ).json()
    check = re.search(
        r'<p id="proof-check" role="status" data-verify-entry="(\d+)" data-leaf-input="([^"]+)"',
        html,
    )
    assert check is not None
    assert int(check.group(1)) == index
    assert unescape(check.group(2)) == entry["leaf_input"]
    assert '<script src="/assets/ledger-verify.js"></script>' in html
    # Envelope fields, the leaf hash, and the payload an officer sees (a minor violation's
    # too: officers see every payload).
    for name in ("kind", "subject", "time", "actor", "payload_hash", "prev"):
        assert unescape(str(entry["envelope"][name])) in unescape(html)
    assert entry["leaf_hash"] in html
    assert f'href="/officer/enterprises/{DISHONEST}?lang=en"' in html
    payload = re.search(r'<pre class="payload">(.*?)</pre>', html, re.S)
    assert payload is not None and json.loads(unescape(payload.group(1))) == entry["payload"]
    assert base64.b64decode(entry["leaf_input"]).startswith(b'{"actor"')


def test_every_payload_is_an_officers_but_the_public_api_withholds_a_minor_one(
    reading_site: Site,
) -> None:
    index = reading_site.seeded.index["minor"]
    html = reading_site.client.get(f"/officer/ledger/{index}", headers=reading_site.officer).text
    assert "ciq.declaration-error" in html
    public = reading_site.client.get(f"/v1/ledger/entries/{index}").json()
    assert public["withheld"] is True


def test_the_checker_script_is_served_by_the_app(reading_site: Site) -> None:
    response = reading_site.client.get("/assets/ledger-verify.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "crypto.subtle.digest" in response.text
    assert "LedgerVerify" in response.text


def test_refusals(reading_site: Site) -> None:
    size = reading_site.services.ledger.size()
    assert reading_site.client.get("/officer/ledger").status_code == 401
    assert reading_site.client.get("/officer/ledger/0").status_code == 401
    for path, status in (
        (f"/officer/ledger/{size}", 404),
        ("/officer/ledger/01", 400),
        ("/officer/ledger/-1", 400),
        ("/officer/ledger/" + "9" * 300, 400),
        ("/officer/ledger?before=0", 400),
        ("/officer/ledger?before=x", 400),
    ):
        response = reading_site.client.get(path, headers=reading_site.officer)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "9" * 60 not in response.json()["detail"]  # a short prefix at most
    # A before past the end is the first page.
    assert (
        _indices(
            reading_site.client.get(
                f"/officer/ledger?before={size + 100}", headers=reading_site.officer
            ).text
        )[0]
        == size - 1
    )
