"""The officers' pages on the real app (test client): what each shows, escaped; search
safe against LIKE wildcards; the record form appends through the records service, and a
refused record writes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.pages.layout import grade_label
from lookup_api.pages.session import SESSION_COOKIE
from lookup_api.ratelimit import RateLimits
from lookup_api.routes.officer.service import search_statement
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import uscc
from tests.officer_env import (
    LISTED,
    NOTICED,
    SERIOUS,
    WILDCARD_NAME,
    XSS_NAME,
    Seeded,
    seed_officer_pages,
)

BROWSER = {"Accept": "text/html"}
SAME_SITE = {**BROWSER, "Origin": "http://testserver.local"}


@dataclass
class Desk:
    client: TestClient[Litestar]
    services: Services
    seeded: Seeded
    token: str

    def api(self, path: str) -> Any:
        """The JSON route's answer to the same officer (by its Authorization header)."""
        response = self.client.get(path, headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.text[:300]
        return response.json()

    def page(self, path: str, status: int = 200) -> str:
        response = self.client.get(path, headers=BROWSER, follow_redirects=False)
        assert response.status_code == status, response.text[:500]
        assert response.headers["content-type"].startswith("text/html")
        return response.text

    def csrf(self, html: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found is not None
        return found.group(1)


@contextmanager
def _desk(db_url: str, folder: Path) -> Iterator[Desk]:
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
        rate_limits=RateLimits(enabled=False),
    )
    services = Services.open(settings)
    try:
        seeded = seed_officer_pages(services.ledger)
        token = create_key(services.engine, "officer")[1]
        with TestClient(create_app(settings, services)) as client:
            client.cookies.set(SESSION_COOKIE, token)
            yield Desk(client, services, seeded, token)
    finally:
        services.close()


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    """The officer's desk over a seeded log of the test's own, for tests that write."""
    with _desk(db_url, tmp_path) as opened:
        yield opened


@pytest.fixture(scope="module")
def reading_desk(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """One desk per module and backend, for the tests that only read pages."""
    with _desk(module_db_url, tmp_path_factory.mktemp("desk")) as opened:
        yield opened


def _usccs(html: str) -> list[str]:
    return re.findall(r'href="/officer/enterprises/([0-9A-Z]{18})[?"]', html)


def _sqlite(desk: Desk) -> bool:
    return desk.services.engine.dialect.name == "sqlite"


def test_a_name_with_markup_is_shown_as_text(reading_desk: Desk) -> None:
    html = reading_desk.page("/officer?q=%3Cscript")
    assert "<script>" not in html
    assert escape(XSS_NAME) in html
    assert _usccs(html) == [uscc(1)]
    profile = reading_desk.page(f"/officer/enterprises/{uscc(1)}")
    assert "<script>" not in profile and "&lt;script&gt;" in profile


def test_search_matches_wildcards_as_themselves(reading_desk: Desk) -> None:
    assert _usccs(reading_desk.page("/officer?q=100%25_")) == [uscc(2)]  # not "1000 Co"
    assert _usccs(reading_desk.page("/officer?q=100%25")) == [uscc(2)]
    assert WILDCARD_NAME in reading_desk.page("/officer?q=100%25")
    assert _usccs(reading_desk.page("/officer?q=nothing-like-this")) == []
    # Within a name on PostgreSQL (its trigram index), from its start on SQLite.
    inside = [] if _sqlite(reading_desk) else [uscc(2)]
    assert _usccs(reading_desk.page("/officer?q=%25")) == inside
    assert _usccs(reading_desk.page("/officer?q=_")) == inside
    assert _usccs(reading_desk.page("/officer?q=%25_Co")) == inside
    contains = [] if _sqlite(reading_desk) else [uscc(1)]
    assert _usccs(reading_desk.page("/officer?q=script")) == contains


def test_the_search_is_served_by_indexes(reading_desk: Desk) -> None:
    """The plan of a search reads the search indexes (on PostgreSQL once a sequential scan
    is ruled out, as it is on a table of realistic size), never the whole table."""
    statement = search_statement(reading_desk.services.engine.dialect.name, "贸易公司", 1)
    compiled = statement.compile(
        reading_desk.services.engine, compile_kwargs={"literal_binds": True}
    )
    with reading_desk.services.engine.begin() as conn:
        if _sqlite(reading_desk):
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            plan = "\n".join(str(r[-1]) for r in rows)
            assert "SCAN proj_enterprises" not in plan, plan
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_indexscan = off")  # not the key's order
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}")
            plan = "\n".join(str(r[0]) for r in rows)
            assert "Seq Scan" not in plan, plan
    assert "ix_proj_enterprises_name_search" in plan, plan
    assert "ix_proj_enterprises_uscc_search" in plan, plan


def test_search_by_uscc_prefix_any_case_and_paginated(reading_desk: Desk) -> None:
    assert _usccs(reading_desk.page(f"/officer?q={uscc(7)[:16].lower()}")) == [uscc(7)]
    first = _usccs(reading_desk.page("/officer?q=普通贸易"))
    second = _usccs(reading_desk.page("/officer?q=普通贸易&page=2"))
    assert len(first) == 20 and len(second) == 5 and not set(first) & set(second)
    assert first + second == sorted(first + second)
    assert "page=2" in reading_desk.page("/officer?q=普通贸易")
    assert reading_desk.page("/officer?page=0", 400)
    assert reading_desk.page("/officer?page=x", 400)


def test_the_enterprise_page_shows_the_credit_routes_grade_and_reasons(reading_desk: Desk) -> None:
    html = reading_desk.page(f"/officer/enterprises/{SERIOUS}?lang=en")
    credit = reading_desk.api(f"/v1/enterprises/{SERIOUS}/credit")
    assert credit["grade"] == "D"
    assert f'<span class="grade">{credit["grade"]}</span>' in html
    for reason in credit["reasons"]:
        assert reason["rule"] in html
        for entry in reason["entries"]:
            assert f'href="/v1/ledger/entries/{entry}"' in html
    assert set(reading_desk.seeded.violations) <= {
        e for r in credit["reasons"] for e in r["entries"]
    }
    for record in credit["history"]:
        assert f'href="/v1/ledger/entries/{record["entry"]}"' in html
    assert "qualifies for the blacklist" in html
    assert f"{credit['measures']['inspection_percent']} %" in html


@pytest.mark.parametrize(
    ("lang", "words"), [("en", "seriously dishonest"), ("zh-CN", "严重失信企业")]
)
def test_the_enterprise_page_says_the_grade_once(reading_desk: Desk, lang: str, words: str) -> None:
    html = reading_desk.page(f"/officer/enterprises/{SERIOUS}?lang={lang}")
    assert f'<span class="grade">D</span> {words}</dd>' in html
    assert "</span> D" not in html and "D (" not in html and "D级" not in html


def test_the_repair_refusal_is_in_the_pages_language(reading_desk: Desk) -> None:
    refused = reading_desk.api(f"/v1/enterprises/{SERIOUS}/credit")["repair"]
    assert refused["refused"].startswith("repair may be requested")
    assert refused["refused_zh"].startswith("最后一次违法")
    chinese = reading_desk.page(f"/officer/enterprises/{SERIOUS}?lang=zh-CN")
    assert f"信用修复：{refused['refused_zh']}" in chinese
    assert "repair may be requested" not in chinese and "not before" not in chinese
    english = reading_desk.page(f"/officer/enterprises/{SERIOUS}?lang=en")
    assert f"Credit repair: {refused['refused']}" in english and "最后一次违法" not in english


@pytest.mark.parametrize(
    ("grade", "name", "shown"),
    [
        ("D", "D级（严重失信企业）", ("D", "严重失信企业")),
        ("D", "D (seriously dishonest)", ("D", "seriously dishonest")),
        ("A", "A级", ("A", "")),
        ("dishonest", "dishonest", ("dishonest", "")),
        ("seriously_dishonest", "seriously dishonest", ("seriously dishonest", "")),
        ("dishonest", "失信企业", ("失信企业", "")),
    ],
)
def test_a_grade_label_never_repeats_the_grade(
    grade: str, name: str, shown: tuple[str, str]
) -> None:
    assert grade_label(grade, name) == shown


def test_the_enterprise_page_refuses_a_bad_uscc_and_an_unknown_one(reading_desk: Desk) -> None:
    assert "not valid" in reading_desk.page("/officer/enterprises/91440300MA5XXXXXXX", 400)
    assert "not filed" in reading_desk.page(f"/officer/enterprises/{uscc(99)}", 404)
    assert reading_desk.page(f"/officer/enterprises/{SERIOUS}?as_of=yesterday", 400)


def test_the_blacklist_shows_the_due_process_dates(reading_desk: Desk) -> None:
    html = reading_desk.page("/officer/blacklist?lang=en")
    assert _usccs(html) == sorted([LISTED, NOTICED])
    assert f'href="/v1/ledger/entries/{reading_desk.seeded.listed_entry}"' in html
    assert f'href="/v1/ledger/entries/{reading_desk.seeded.noticed_entry}"' in html
    assert "Listing allowed from" in html and "Removal allowed from" in html


def test_the_proposals_are_those_of_the_credit_route(reading_desk: Desk) -> None:
    html = reading_desk.page("/officer/proposals")
    proposed = [p["uscc"] for p in reading_desk.api("/v1/credit/proposals")]
    assert proposed == [SERIOUS]
    assert _usccs(html) == [SERIOUS]
    assert f"/officer/records/new?kind=blacklist.noticed&amp;uscc={SERIOUS}" in html


def _file(desk: Desk, form: dict[str, str], status: int) -> str:
    html = desk.page(f"/officer/records/new?kind={form['kind']}")
    data = {"csrf": desk.csrf(html), **form}
    response = desk.client.post(
        "/officer/records/new", data=data, headers=SAME_SITE, follow_redirects=False
    )
    assert response.status_code == status, response.text[:800]
    return response.text


def test_the_form_files_a_record_as_the_officer(desk: Desk) -> None:
    size = desk.services.ledger.size()
    html = _file(
        desk,
        {
            "kind": "sanction.yellow_card",
            "f.uscc": SERIOUS,
            "f.reason": "警告",
            "f.on": "2026-11-01",
        },
        201,
    )
    assert desk.services.ledger.size() > size
    assert f'href="/v1/ledger/entries/{size}"' in html
    entry = desk.api(f"/v1/ledger/entries/{size}")
    assert entry["envelope"]["kind"] == "sanction.yellow_card"
    assert entry["envelope"]["actor"].startswith("officer:")
    assert entry["leaf_hash"] in html


def test_pasted_json_is_filed_too(desk: Desk) -> None:
    size = desk.services.ledger.size()
    payload = f'{{"uscc": "{SERIOUS}", "reason": "约谈", "on": "2026-11-02"}}'
    _file(desk, {"kind": "sanction.interview", "payload_json": payload}, 201)
    assert desk.services.ledger.size() > size


@pytest.mark.parametrize(
    ("form", "status", "named"),
    [
        ({"kind": "sanction.yellow_card", "f.uscc": "91440300MA5XXXXXXX", "f.reason": "x",
          "f.on": "2026-11-01"}, 400, "uscc"),
        ({"kind": "sanction.yellow_card", "f.uscc": SERIOUS, "f.on": "2026-11-01"}, 400, "reason"),
        ({"kind": "sanction.yellow_card", "payload_json": "{not json"}, 400, "payload"),
        ({"kind": "sanction.yellow_card", "payload_json": "[1]"}, 400, "payload"),
        ({"kind": "blacklist.listed", "f.uscc": NOTICED, "f.reason": "x"}, 422, "30 days"),
    ],
)  # fmt: skip
def test_a_bad_record_re_renders_the_form_naming_the_error_and_writes_nothing(
    desk: Desk, form: dict[str, str], status: int, named: str
) -> None:
    size = desk.services.ledger.size()
    html = _file(desk, form, status)
    assert desk.services.ledger.size() == size
    alert = re.search(r'role="alert">([^<]*)<', html)
    assert alert is not None and named in alert.group(1)
    assert 'name="csrf"' in html  # the form again, to correct


def test_a_record_without_a_valid_token_writes_nothing(desk: Desk) -> None:
    size = desk.services.ledger.size()
    form = {
        "kind": "sanction.yellow_card",
        "f.uscc": SERIOUS,
        "f.reason": "x",
        "f.on": "2026-11-01",
    }
    for headers, token in (
        (SAME_SITE, None),
        (SAME_SITE, "forged"),
        ({**BROWSER, "Origin": "https://evil.example"}, "valid"),
    ):
        html = desk.page("/officer/records/new?kind=sanction.yellow_card")
        data = dict(form)
        if token is not None:
            data["csrf"] = desk.csrf(html) if token == "valid" else token
        response = desk.client.post("/officer/records/new", data=data, headers=headers)
        assert response.status_code == 403
    assert desk.services.ledger.size() == size


def test_the_same_form_sent_twice_appends_once(desk: Desk) -> None:
    html = desk.page("/officer/records/new?kind=sanction.yellow_card")
    key = re.search(r'name="request_key" value="([^"]+)"', html)
    assert key is not None
    data = {
        "csrf": desk.csrf(html),
        "request_key": key.group(1),
        "kind": "sanction.yellow_card",
        "f.uscc": SERIOUS,
        "f.reason": "x",
        "f.on": "2026-11-01",
    }
    first = desk.client.post("/officer/records/new", data=data, headers=SAME_SITE)
    size = desk.services.ledger.size()
    again = desk.client.post("/officer/records/new", data=data, headers=SAME_SITE)
    assert first.status_code == again.status_code == 201
    assert desk.services.ledger.size() == size
    assert first.headers["location"] == again.headers["location"]


def test_an_unknown_kind_is_400(desk: Desk) -> None:
    assert desk.page("/officer/records/new?kind=credit.graded", 400)
    assert 'value="violation.recorded"' in desk.page("/officer/records/new")
