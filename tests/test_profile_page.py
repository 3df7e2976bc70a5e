"""The public enterprise profile as a page: content negotiation by the Accept header
(q-values honoured, JSON by default), the same facts as the JSON, both documented."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from ledger.records.entry import record_entry
from tests.factories import enterprise_payload, uscc
from tests.pages_env import DISHONEST, GENERAL, MINOR, Site, reading_site, site

__all__ = ["reading_site", "site"]  # the fixtures
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (BROWSER, "text/html"),
        ("text/html", "text/html"),
        ("application/json;q=0.5, text/html;q=0.9", "text/html"),
        ("text/*", "text/html"),
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("text/html;q=0.4, application/json;q=0.6", "application/json"),
        ("text/html;q=0, */*", "application/json"),
        ("image/png", "application/json"),
        # Unreadable q-values are skipped, never a 500.
        ("*/*;q=inf", "application/json"),
        ("text/html;q=1e400", "application/json"),
        ("text/html;q=nan, application/json", "application/json"),
    ],
)
def test_the_accept_header_chooses(reading_site: Site, accept: str | None, media_type: str) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = reading_site.client.get(f"/v1/enterprises/{GENERAL}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    assert "Accept" in response.headers["vary"]


def _entry_links(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/v1/ledger/entries/(\d+)"', html)}


@pytest.mark.parametrize("who", [GENERAL, DISHONEST, MINOR])
def test_the_page_shows_the_facts_of_the_json(reading_site: Site, who: str) -> None:
    facts = reading_site.client.get(f"/v1/enterprises/{who}").json()
    page = reading_site.client.get(f"/v1/enterprises/{who}?lang=en", headers={"Accept": BROWSER})
    assert page.headers["content-language"] == "en"
    html = unescape(page.text)
    assert facts["name"] in html and facts["uscc"] in html
    assert f'<span class="grade">{facts["grade"]}</span>' in html
    behind = [
        *(s["entry"] for s in facts["sanctions"]),
        *(v["entry"] for v in facts["violations"]),
        *(r["entry"] for r in facts["recalls"]),
        facts["filed_entry"],
        facts["graded_entry"],
    ]
    assert set(behind) <= _entry_links(html)
    assert _entry_links(html) <= set(facts["entries"])
    for v in facts["violations"]:
        assert v["case_no"] in html
    for r in facts["recalls"]:
        assert r["reason"] in html
    assert f"checkpoint {facts['tree_size']}" in html
    assert "<script" not in page.text


def test_a_minor_violation_is_on_neither(reading_site: Site) -> None:
    minor = reading_site.seeded.index["minor"]
    facts = reading_site.client.get(f"/v1/enterprises/{MINOR}").json()
    assert facts["violations"] == []
    html = reading_site.client.get(f"/v1/enterprises/{MINOR}", headers={"Accept": "text/html"}).text
    assert minor not in _entry_links(html)
    assert "案-minor" not in html


def test_chinese_by_default_english_on_request(reading_site: Site) -> None:
    zh = reading_site.client.get(f"/v1/enterprises/{GENERAL}", headers={"Accept": "text/html"})
    assert zh.headers["content-language"] == "zh-CN"
    assert "信用等级" in zh.text and "公开的违规记录" in zh.text
    assert f'href="/v1/enterprises/{GENERAL}?lang=en"' in zh.text
    en = reading_site.client.get(
        f"/v1/enterprises/{GENERAL}", headers={"Accept": "text/html", "Accept-Language": "en-GB"}
    )
    assert "Credit grade" in en.text and "Public violations" in en.text


def test_text_from_the_ledger_is_escaped(site: Site) -> None:
    who = enterprise_payload(77, name="<img src=x onerror=alert(1)>&Co")
    result = site.services.ledger.append([record_entry("enterprise.filed", who, "officer:test")])
    assert not result.rejected, result.rejected
    html = site.client.get(f"/v1/enterprises/{who['uscc']}", headers={"Accept": "text/html"}).text
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;Co" in html


def test_errors_stay_problem_json_for_a_browser(reading_site: Site) -> None:
    for path, status in (
        ("/v1/enterprises/NOT-A-USCC", 400),
        (f"/v1/enterprises/{uscc(99_999)}", 404),
    ):
        response = reading_site.client.get(path, headers={"Accept": BROWSER})
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_document_names_both_media_types(reading_site: Site) -> None:
    operation = reading_site.client.get("/schema/openapi.json").json()["paths"][
        "/v1/enterprises/{uscc}"
    ]
    content = operation["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/html"}
    assert content["application/json"]["schema"]["$ref"].endswith("/EnterpriseProfile")
    # Plain JSON throughout (a generated example would hold Structs).
    json.dumps(reading_site.client.app.openapi_schema.to_schema())
