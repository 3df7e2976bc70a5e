"""Platform routes: bulk verification of filings, and the public feed of changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from credit.catalogue import load_policy
from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.ratelimit import RateLimits
from lookup_api.routes.ledger.disclosure import today_in_china
from lookup_api.routes.platform.service import feed_version
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.codes_env import BATCH, GTIN, GTIN13, OTHER_GTIN, OWNER, STRANGER, add, batch, product
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

UNFILED = uscc(99)


@dataclass
class Api:
    client: TestClient[Litestar]
    services: Services
    platform: str
    index: dict[str, int]

    def verify(self, items: list[dict[str, Any]]) -> Any:
        return self.client.post(
            "/v1/verify/filings",
            json={"items": items},
            headers={"Authorization": f"Bearer {self.platform}"},
        )


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        rate_limits=RateLimits(enabled=False),
    )
    services = Services.open(settings)
    try:
        ledger = services.ledger
        today = today_in_china()
        for n in (4, 1, 5):
            add(ledger, "enterprise.filed", enterprise_payload(n))
        add(ledger, "product.filed", product(GTIN13, OWNER))
        add(ledger, "product.filed", product(OTHER_GTIN[-8:], OWNER, "橄榄油"))
        add(ledger, "batch.declared", batch(GTIN, BATCH))
        add(ledger, "batch.declared", batch(GTIN, "B2"))
        index = {
            "recall": add(
                ledger,
                "recall.issued",
                {"gtin": GTIN, "batches": [BATCH], "reason": "melamine", "issued_on": str(today)},
            ),
            "notice": add(ledger, "blacklist.noticed", {"uscc": STRANGER, "reason": "forgery"}),
            "minor": add(
                ledger,
                "violation.recorded",
                {
                    "uscc": OWNER,
                    "item": "ciq.declaration-error",
                    "occurred_on": str(today - dt.timedelta(days=2)),
                    "case_no": "MINOR-1",
                },
            ),
        }
        token = create_key(services.engine, "platform")[1]
        with TestClient(create_app(settings, services)) as client:
            yield Api(client, services, token, index)
    finally:
        services.close()


def test_each_item_is_answered_and_a_malformed_one_gets_its_own_error(api: Api) -> None:
    items = [
        {"uscc": OWNER, "gtin": GTIN13, "batch": BATCH},  # recalled batch
        {"uscc": OWNER.lower(), "gtin": GTIN, "batch": "B2"},  # not covered by the recall
        {"uscc": OWNER, "gtin": OTHER_GTIN},
        {"uscc": STRANGER},
        {"uscc": UNFILED, "gtin": "09506000134352", "batch": "NOPE"},
        {"uscc": "91440300MA5XXXXXXX"},
        {"uscc": OWNER, "gtin": "6901234567893"},
        {"uscc": OWNER, "batch": BATCH},
        {"uscc": OWNER, "gtin": GTIN, "batch": "no spaces allowed"},
    ]
    response = api.verify(items)
    assert response.status_code == 200, response.text
    body = response.json()
    checkpoint = api.services.ledger.latest_checkpoint()
    assert checkpoint is not None and body["tree_size"] == checkpoint.size
    a, b, c, d, e, *bad = body["items"]
    assert a["filed"] and a["status"] == "active" and a["grade"] is not None
    assert a["gtin"] == GTIN and a["product_filed"] and a["product_owner"] == OWNER
    assert (
        a["batch_declared"] and a["active_recall"] and a["recall_entries"] == [api.index["recall"]]
    )
    assert api.index["recall"] in a["entries"] and a["error"] is None
    assert b["uscc"] == OWNER and b["batch_declared"] and b["active_recall"] is False
    assert c["product_filed"] and c["active_recall"] is False and c["batch_declared"] is None
    # A notice is due process, not a listing: a platform sees the public standing.
    assert d["filed"] and d["blacklist"] == "none" and not d["blacklisted"]
    assert api.index["notice"] not in d["entries"]
    assert d["product_filed"] is None and d["active_recall"] is None
    assert not e["filed"] and e["status"] is None and e["product_filed"] is False
    assert e["batch_declared"] is False
    assert [x["error"]["field"] for x in bad] == ["uscc", "gtin", "batch", "batch"]
    assert all(x["error"]["message"] and not x["filed"] for x in bad)
    assert "91440300MA5XXXXXXX" in bad[0]["error"]["message"]


def test_an_officer_is_told_of_a_notice_a_platform_is_not(api: Api) -> None:
    officer = create_key(api.services.engine, "officer")[1]
    items = {"items": [{"uscc": STRANGER}]}
    told = {}
    for role, token in (("officer", officer), ("platform", api.platform)):
        response = api.client.post(
            "/v1/verify/filings", json=items, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        told[role] = response.json()["items"][0]
    assert told["officer"]["blacklist"] == "noticed" and not told["officer"]["blacklisted"]
    assert api.index["notice"] in told["officer"]["entries"]
    assert told["platform"]["blacklist"] == "none"
    assert api.index["notice"] not in told["platform"]["entries"]
    # The feed, the public's view, withholds the notice's payload.
    changes = {c["index"]: c for c in api.client.get("/v1/feed?limit=1000").json()["changes"]}
    notice = changes[api.index["notice"]]
    assert notice["payload"] is None and notice["withheld"]
    assert "not published" in notice["withheld_reason"]


def test_the_request_itself_must_be_well_formed(api: Api) -> None:
    too_many = [{"uscc": OWNER}] * 1001
    bodies: list[Any] = [
        {"items": too_many},
        {"items": []},
        {"items": [{"uscc": OWNER, "colour": "red"}]},
        {"items": [{"uscc": 12}]},
        {"items": [{"uscc": "9" * 65}]},
        [],
    ]
    for body in bodies:
        response = api.client.post(
            "/v1/verify/filings", json=body, headers={"Authorization": f"Bearer {api.platform}"}
        )
        assert response.status_code == 400, (str(body)[:60], response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.verify([{"uscc": OWNER}] * 1000).status_code == 200


def test_the_feed_pages_through_every_entry_in_order(api: Api) -> None:
    size = api.services.ledger.size()
    seen: list[int] = []
    after: int | None = None
    while True:
        query = "limit=4" if after is None else f"after={after}&limit=4"
        page = api.client.get(f"/v1/feed?{query}").json()
        assert page["tree_size"] == size
        seen += [c["index"] for c in page["changes"]]
        after = page["next_after"]
        if not page["more"]:
            break
    assert seen == list(range(size))
    empty = api.client.get(f"/v1/feed?after={size - 1}").json()
    assert empty["changes"] == [] and empty["next_after"] == size - 1 and not empty["more"]


def test_the_feed_shows_the_public_payloads_only(api: Api) -> None:
    changes = {c["index"]: c for c in api.client.get("/v1/feed?limit=1000").json()["changes"]}
    minor = changes[api.index["minor"]]
    assert minor["kind"] == "violation.recorded" and minor["subject"] == f"uscc:{OWNER}"
    assert minor["payload"] is None and minor["withheld"] and "never" in minor["withheld_reason"]
    recall = changes[api.index["recall"]]
    assert recall["payload"]["reason"] == "melamine" and not recall["withheld"]
    # the feed is the public view whoever asks: an officer's key changes nothing
    officer = create_key(api.services.engine, "officer")[1]
    keyed = api.client.get("/v1/feed?limit=1000", headers={"Authorization": f"Bearer {officer}"})
    assert {c["index"]: c for c in keyed.json()["changes"]} == changes


def test_polling_the_feed_is_cheap_until_something_changes(api: Api) -> None:
    tail = api.client.get("/v1/feed?after=5&limit=100")
    etag = tail.headers["etag"]
    assert tail.headers["cache-control"] == "public, max-age=2"
    again = api.client.get("/v1/feed?after=5&limit=100", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    add(api.services.ledger, "enterprise.filed", enterprise_payload(6))
    changed = api.client.get("/v1/feed?after=5&limit=100", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    full = api.client.get("/v1/feed?limit=2")
    assert full.headers["cache-control"] == "public, max-age=60"


def test_feed_parameters_have_one_spelling(api: Api) -> None:
    for query in ("after=-1", "after=01", "limit=0", "limit=1001", "after=x"):
        response = api.client.get(f"/v1/feed?{query}")
        assert response.status_code == 400, query
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_feed_page_version_moves_with_everything_its_content_depends_on() -> None:
    ciq, gacc = load_policy("cn-ciq-2014"), load_policy("cn-gacc-2026")
    day = dt.date(2026, 6, 1)
    base = feed_version(5, 100, 40, day, ciq)
    assert base == feed_version(5, 100, 40, day, ciq)
    others = {
        feed_version(6, 100, 40, day, ciq),
        feed_version(5, 99, 40, day, ciq),
        feed_version(5, 100, 41, day, ciq),  # an append, or a redaction
        feed_version(5, 100, 40, day + dt.timedelta(days=1), ciq),  # a window may close
        feed_version(5, 100, 40, day, gacc),
        feed_version(None, 100, 40, day, ciq),
    }
    assert base not in others and len(others) == 6


def test_the_body_is_read_strictly_and_only_after_authentication(api: Api) -> None:
    nested = b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    auth = {"Authorization": f"Bearer {api.platform}"}
    anonymous = api.client.post(
        "/v1/verify/filings", content=nested, headers={"Content-Type": "application/json"}
    )
    assert anonymous.status_code == 401  # not 400: the body was never parsed
    deep = api.client.post(
        "/v1/verify/filings", content=nested, headers={**auth, "Content-Type": "application/json"}
    )
    assert deep.status_code == 400 and "nested deeper than" in deep.json()["detail"]
    as_text = api.client.post(
        "/v1/verify/filings",
        content=b'{"items": [{"uscc": "x"}]}',
        headers={**auth, "Content-Type": "text/plain"},
    )
    assert as_text.status_code == 415
    duplicate = api.client.post(
        "/v1/verify/filings",
        content=b'{"items": [{"uscc": "a", "uscc": "b"}]}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert duplicate.status_code == 400
