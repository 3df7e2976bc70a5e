"""The GS1-Conformant resolver, one test per rule, as GS1's conformance suite sends them.

Every request carries ``Origin`` and no redirect is followed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.issuance import issue_codes
from qr.serials import new_serials
from tests.codes_env import BATCH, GTIN, GTIN13, OTHER_GTIN, OWNER, add, appender, seed
from tests.conftest import ORIGIN

ORIGIN_HEADER = {"Origin": "https://conformance.example"}
PUBLIC = "https://codes.example.cn"  # CREDTRACE_PUBLIC_URL: every link starts here
GS1 = "https://gs1.org/voc/"
LINK_TYPES = ["pip", "traceability", "certificationInfo", "recallStatus", "verificationService"]


@dataclass
class Resolver:
    client: TestClient[Litestar]
    services: Services
    serials: list[str]

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, headers={**ORIGIN_HEADER, **headers}, follow_redirects=False)


@contextmanager
def _resolver(db_url: str, folder: Path) -> Iterator[Resolver]:
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
        scan_warning=3,
        public_url=PUBLIC,
    )
    services = Services.open(settings)
    try:
        seed(services.ledger)
        issued = issue_codes(
            services.engine,
            appender(services.ledger),
            gtin=GTIN,
            batch=BATCH,
            count=5,
            key_id="0123abcd",
            actor="officer:test",
        )
        with TestClient(create_app(settings, services)) as client:
            yield Resolver(client, services, issued.serials)
    finally:
        services.close()


@pytest.fixture
def resolver(db_url: str, tmp_path: Path) -> Iterator[Resolver]:
    """A resolver of the test's own, for tests that write or count scans."""
    with _resolver(db_url, tmp_path) as resolver:
        yield resolver


@pytest.fixture(scope="module")
def reader(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resolver]:
    """One resolver for the module's tests that neither write nor open a code's page."""
    with _resolver(module_db_url, tmp_path_factory.mktemp("resolver")) as resolver:
        yield resolver


def _code(r: Resolver) -> str:
    return f"/01/{GTIN}/10/{BATCH}/21/{r.serials[0]}"


def _linkset_header(response: Any) -> str:
    link = response.headers.get("link", "")
    assert 'rel="linkset"' in link and "?linkType=linkset>" in link, response.headers
    return str(link)


def test_a_browser_is_redirected_to_the_one_default_link_with_the_query(r: Resolver) -> None:
    response = r.get(_code(r) + "?lang=en&x=1", Accept="text/html")
    assert response.status_code == 307
    location = response.headers["location"]
    assert location.startswith(f"{PUBLIC}/info/01/")
    assert location.endswith("?lang=en&x=1")
    _linkset_header(response)
    assert response.headers["access-control-allow-origin"] == "*"
    page = r.get(location.removeprefix(PUBLIC))
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"


def test_json_gets_the_facts_directly(reader: Resolver) -> None:
    response = reader.get(_code(reader), Accept="application/json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resolved"]["level"] == "serial" and body["code"]["status"] == "genuine"
    assert body["product"]["gtin"] == GTIN and body["enterprise"]["uscc"] == OWNER
    _linkset_header(response)


@pytest.mark.parametrize("how", ["linkType=linkset", "linkType=all", "accept"])
def test_the_linkset_is_rfc9264_with_every_link_type_and_one_default(
    reader: Resolver, how: str
) -> None:
    if how == "accept":
        response = reader.get(_code(reader), Accept="application/linkset+json")
    else:
        response = reader.get(f"{_code(reader)}?{how}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/linkset+json")
    _linkset_header(response)
    body = response.json()
    assert list(body) == ["linkset"] and len(body["linkset"]) == 1
    context = body["linkset"][0]
    assert context["anchor"].endswith(_code(reader)) and context["anchor"].startswith("http")
    for name in ["defaultLink", *LINK_TYPES]:
        targets = context[GS1 + name]
        assert isinstance(targets, list) and targets, name
        for target in targets:
            # RFC 9264 §4.2.4: a target object has href; hreflang is an array.
            assert target["href"].startswith("http")
            assert isinstance(target["hreflang"], list) and isinstance(target["title"], str)
    assert len(context[GS1 + "defaultLink"]) == 1
    for key in context:
        assert key in ("anchor", "itemDescription") or key.startswith(GS1)


def test_a_named_link_type_redirects_there_and_an_unknown_one_is_404(reader: Resolver) -> None:
    response = reader.get(f"{_code(reader)}?linkType=gs1:verificationService")
    assert response.status_code == 307
    assert f"/v1/codes/{GTIN}/{BATCH}/{reader.serials[0]}" in response.headers["location"]
    unknown = reader.get(f"{_code(reader)}?linkType=gs1:noSuchThing")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    _linkset_header(unknown)


def test_head_answers_like_get_without_a_body(reader: Resolver) -> None:
    response = reader.client.head(
        _code(reader) + "?linkType=linkset", headers=ORIGIN_HEADER, follow_redirects=False
    )
    assert response.status_code == 200 and response.content == b""
    _linkset_header(response)


def test_the_preflight_carries_cors_and_the_link_header(reader: Resolver) -> None:
    response = reader.client.options(
        _code(reader),
        headers={**ORIGIN_HEADER, "Access-Control-Request-Method": "GET,HEAD,OPTIONS"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert set(response.headers["access-control-allow-methods"].replace(" ", "").split(",")) >= {
        "GET",
        "HEAD",
        "OPTIONS",
    }
    _linkset_header(response)


def test_a_trailing_slash_is_accepted(reader: Resolver) -> None:
    response = reader.get(f"/01/{GTIN}/10/{BATCH}/", Accept="application/json")
    assert response.status_code == 200, response.text
    assert response.json()["resolved"]["level"] == "batch"


def test_a_gtin13_resolves_as_its_gtin14(reader: Resolver) -> None:
    response = reader.get(f"/01/{GTIN13}", Accept="application/json")
    assert response.status_code == 200 and response.json()["product"]["gtin"] == GTIN


def test_unknown_batch_and_serial_walk_up_and_say_so(reader: Resolver) -> None:
    batch = reader.get(f"/01/{GTIN}/10/NOPE", Accept="application/json").json()
    assert batch["resolved"]["level"] == "gtin"
    assert any("NOPE" in note for note in batch["notes"])
    forged = new_serials(1)[0]
    serial = reader.get(f"/01/{GTIN}/10/{BATCH}/21/{forged}", Accept="application/json")
    assert serial.status_code == 200
    body = serial.json()
    assert body["resolved"]["level"] == "batch" and body["code"]["status"] == "not_issued"
    assert any("not genuine" in note for note in body["notes"])
    linkset = reader.get(f"/01/{GTIN}/10/NOPE/21/{forged}?linkType=linkset").json()
    assert linkset["linkset"][0]["anchor"].endswith(f"/01/{GTIN}/10/NOPE/21/{forged}")


def test_an_unknown_gtin_is_404(reader: Resolver) -> None:
    response = reader.get("/01/4006381333931", Accept="application/json")  # valid, not filed
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    _linkset_header(response)


@pytest.mark.parametrize(
    "path",
    [
        f"/01/{GTIN[:-1]}3",  # check digit
        "/01/123456789",  # length
        f"/01/{GTIN}/foo",  # <dl>/foo
        f"/01/{GTIN}/foo/bar",  # unknown qualifier
        f"/01/{GTIN}/21/ABC/10/{BATCH}",  # order
        f"/01/{GTIN}/10/B%20B",  # charset
        f"/01/{GTIN}/10/" + "B" * 21,  # value length
        "/01/69012345678x2",  # not digits
        "/01",  # no GTIN
        "/01/",
        f"/01/{GTIN}/10/{BATCH}/22/V1",  # the variant (22) comes first
        f"/01/{GTIN}/21/S1/22/V1",
        f"/01/{GTIN}/22/V%201",  # charset of AI 22
    ],
)
def test_malformed_paths_are_400_problem_json(reader: Resolver, path: str) -> None:
    response = reader.get(path, Accept="application/json")
    assert response.status_code == 400, (path, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"].startswith("malformed GS1 Digital Link path")
    assert reader.get(path).status_code == 400  # and for a browser too, never a redirect


def test_the_resolver_description_file(reader: Resolver) -> None:
    response = reader.get("/.well-known/gs1resolver")
    assert response.status_code == 200
    body = response.json()
    assert body["resolverRoot"].startswith("http") and body["supportedPrimaryKeys"] == ["01"]
    assert {"namespace": GS1, "prefix": "gs1:"} in body["supportedLinkType"]


def test_the_page_counts_scans_and_warns_past_the_threshold(r: Resolver) -> None:
    path = f"/info{_code(r)}"
    texts = [r.get(path).text for _ in range(4)]
    assert "第1次查询" in texts[0] and "谨防假冒" not in texts[2]
    assert "已被查询4次，首次查询时间" in texts[3] and "谨防假冒" in texts[3]
    assert r.client.head(path, headers=ORIGIN_HEADER).status_code == 200  # nobody saw a page
    english = r.get(path + "?lang=en").text
    assert "Checked 5 times" in english and "beware of counterfeits" in english
    assert "Accept-Language" in r.get(path).headers["vary"]
    assert "Product traceability" in r.get(path, **{"Accept-Language": "en-GB,en;q=0.9"}).text


def test_the_page_says_plainly_when_a_code_is_not_genuine_revoked_or_recalled(r: Resolver) -> None:
    forged = r.get(f"/info/01/{GTIN}/10/{BATCH}/21/{new_serials(1)[0]}").text
    assert "此追溯码不是正品码" in forged
    add(
        r.services.ledger,
        "codes.revoked",
        {"gtin": GTIN, "batch": BATCH, "serials": [r.serials[1]], "reason": "stolen"},
    )
    revoked = r.get(f"/info/01/{GTIN}/10/{BATCH}/21/{r.serials[1]}").text
    assert "此追溯码已被注销" in revoked
    add(
        r.services.ledger,
        "recall.issued",
        {"gtin": GTIN, "batches": [BATCH], "reason": "三聚氰胺", "issued_on": "2026-01-02"},
    )
    recalled = r.get(f"/info{_code(r)}").text
    assert "召回警告" in recalled and "三聚氰胺" in recalled
    assert "<script" not in recalled and "http" not in recalled.split("<footer>")[0].replace(
        f'href="{PUBLIC}/info', ""
    )


def test_the_page_without_a_gtin_is_400_too(reader: Resolver) -> None:
    for path in ("/info/01", "/info/01/"):
        response = reader.get(path)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


HOSTILE = "evil.example"


def _hrefs(value: Any) -> list[str]:
    """Every href and anchor in a JSON answer."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("href", "anchor") and isinstance(v, str)]
        return found + [h for v in value.values() for h in _hrefs(v)]
    if isinstance(value, list):
        return [h for v in value for h in _hrefs(v)]
    return []


def test_links_come_from_the_public_url_never_from_a_forged_host(r: Resolver) -> None:
    hostile = {"Host": HOSTILE, "X-Forwarded-Host": HOSTILE}
    answers = [
        r.get(_code(r), Accept="application/json", **hostile),
        r.get(_code(r) + "?linkType=linkset", **hostile),
        r.get(_code(r), Accept="text/html", **hostile),
        r.get(f"/info{_code(r)}", **hostile),
        r.get("/.well-known/gs1resolver", **hostile),
        r.client.options(
            _code(r),
            headers={**ORIGIN_HEADER, **hostile, "Access-Control-Request-Method": "GET"},
        ),
    ]
    json_answer, linkset, redirect, page, description, preflight = answers
    hrefs = _hrefs(json_answer.json()) + _hrefs(linkset.json())
    assert len(hrefs) > 10 and all(h.startswith(f"{PUBLIC}/") for h in hrefs), hrefs
    assert redirect.status_code == 307 and redirect.headers["location"].startswith(PUBLIC)
    assert description.json()["resolverRoot"] == PUBLIC
    for response in answers:
        assert HOSTILE not in response.text and HOSTILE not in str(response.headers)
    for response in (json_answer, linkset, redirect, page, preflight):
        assert _linkset_header(response).startswith(f"<{PUBLIC}/01/{GTIN}/10/{BATCH}/21/")
    assert f'href="{PUBLIC}/info/01/' in page.text and f'href="{PUBLIC}/v1/codes/' in page.text


def test_a_serial_resolves_without_its_batch(r: Resolver) -> None:
    """GS1 Digital Link allows /01/{gtin}/21/{serial}: serials are unique in the register."""
    body = r.get(f"/01/{GTIN}/21/{r.serials[0]}", Accept="application/json").json()
    assert body["resolved"] == {
        "level": "serial",
        "gtin": GTIN,
        "batch": BATCH,
        "serial": r.serials[0],
    }
    assert body["code"]["status"] == "genuine" and body["batch"]["batch"] == BATCH
    assert body["requested"]["batch"] is None
    linkset = r.get(f"/01/{GTIN}/21/{r.serials[0]}?linkType=linkset").json()["linkset"][0]
    assert linkset["anchor"] == f"{PUBLIC}/01/{GTIN}/21/{r.serials[0]}"
    verify = linkset[GS1 + "verificationService"][0]["href"]
    assert verify == f"{PUBLIC}/v1/codes/{GTIN}/{BATCH}/{r.serials[0]}"
    page = r.get(f"/info/01/{GTIN}/21/{r.serials[0]}").text
    assert "此追溯码为正品码" in page and BATCH in page


def test_a_serial_without_its_batch_that_is_unknown_or_anothers_walks_up(r: Resolver) -> None:
    forged = new_serials(1)[0]
    body = r.get(f"/01/{GTIN}/21/{forged}", Accept="application/json").json()
    assert body["resolved"]["level"] == "gtin" and body["code"]["status"] == "not_issued"
    assert body["batch"] is None and any("not genuine" in n for n in body["notes"])
    other = OTHER_GTIN  # filed by the seed, same owner, no codes of its own
    copied = r.get(f"/01/{other}/21/{r.serials[0]}", Accept="application/json").json()
    assert copied["resolved"]["level"] == "gtin" and copied["code"]["status"] == "not_issued"
    assert copied["batch"] is None and any("a copy" in n for n in copied["notes"])
    add(
        r.services.ledger,
        "codes.revoked",
        {"gtin": GTIN, "batch": BATCH, "serials": [r.serials[2]], "reason": "stolen"},
    )
    revoked = r.get(f"/01/{GTIN}/21/{r.serials[2]}", Accept="application/json").json()
    assert revoked["code"]["status"] == "revoked" and revoked["resolved"]["batch"] == BATCH


def test_a_consumer_product_variant_is_accepted_and_passed_through(r: Resolver) -> None:
    path = f"/01/{GTIN}/22/2A/10/{BATCH}/21/{r.serials[0]}"
    body = r.get(path, Accept="application/json").json()
    assert body["code"]["status"] == "genuine" and body["resolved"]["level"] == "serial"
    assert any("AI 22" in note and "2A" in note for note in body["notes"])
    assert body["requested"]["variant"] == "2A" and "variant" not in body["resolved"]
    linkset = r.get(path + "?linkType=linkset").json()["linkset"][0]
    assert linkset["anchor"] == PUBLIC + path
    assert linkset[GS1 + "defaultLink"][0]["href"] == f"{PUBLIC}/info{path}"
    redirect = r.get(path)
    assert redirect.status_code == 307 and redirect.headers["location"] == f"{PUBLIC}/info{path}"
    assert r.get(f"/info{path}").status_code == 200
    gtin_level = r.get(f"/01/{GTIN}/22/2A", Accept="application/json").json()
    assert gtin_level["resolved"]["level"] == "gtin"
    without_batch = r.get(f"/01/{GTIN}/22/2A/21/{r.serials[0]}", Accept="application/json")
    assert without_batch.json()["code"]["status"] == "genuine"


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        ("application/json", "json"),
        ("application/json;q=0, text/html", "redirect"),  # JSON refused
        ("application/json;q=0", "redirect"),  # nothing acceptable: the default
        ("application/linkset+json;q=0, application/json", "json"),
        ("application/linkset+json;q=0", "redirect"),
        ("application/linkset+json", "linkset"),
        ("application/linkset+json;q=0.9, application/json;q=0.8", "linkset"),
        ("application/json;q=0.9, application/linkset+json;q=0.8", "json"),
        ("application/json, application/linkset+json", "json"),  # a tie: the server's order
        ("application/json, text/html", "redirect"),  # a tie: the default first
        ("application/json, */*", "json"),  # a tie: the named type beats the wildcard
        ("*/*;q=0.1, application/json;q=0.2", "json"),
        ("application/*", "json"),
        ("*/*", "redirect"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "redirect"),
        ("application/json;q=abc, text/html", "redirect"),  # an unreadable range is skipped
        ("APPLICATION/JSON;Q=1", "json"),
    ],
)
def test_accept_is_weighed_with_its_q_values(reader: Resolver, accept: str, answer: str) -> None:
    response = reader.get(_code(reader), Accept=accept)
    kinds = {307: "redirect"}
    if response.status_code == 200:
        media = response.headers["content-type"]
        kinds[200] = "linkset" if media.startswith("application/linkset+json") else "json"
        assert media.startswith(("application/json", "application/linkset+json"))
    assert kinds.get(response.status_code) == answer, (accept, response.status_code)
    assert response.headers["vary"] == "Accept"


@pytest.fixture
def r(resolver: Resolver) -> Resolver:
    return resolver


def test_accept_language_q_values_choose_the_page_language(r: Resolver) -> None:
    """``en;q=0`` refuses English: the page stays Chinese; ``zh;q=0.1, en`` is English."""
    path = f"/info{_code(r)}"
    refused = r.get(path, **{"Accept-Language": "en;q=0, zh"})
    assert refused.status_code == 200
    assert "产品溯源查询" in refused.text
    english = r.get(path, **{"Accept-Language": "zh;q=0.1, en"})
    assert "Product traceability" in english.text
