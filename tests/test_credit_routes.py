"""The credit routes over the real app: the officer's credit view with reasons and
history, roles, problem+json for bad input, and inspection decisions anyone can recompute
from the checkpoint they name."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from credit.decisions import batch_id, decision_seed, draw
from ledger.records.entry import record_entry
from ledger.store.config import LedgerConfig
from ledger.store.entries import NewEntry
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

A = uscc(1)
GTIN = "06901234567892"
T = "2026-01-02T02:00:00.000Z"


Api = tuple[TestClient, Services, dict[str, str]]  # type: ignore[type-arg]


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """A graded log of the test's own, for tests that write."""
    with _api(db_url, tmp_path) as opened:
        yield opened


@pytest.fixture(scope="module")
def reading(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One graded log per backend, for the tests that only read."""
    with _api(module_db_url, tmp_path_factory.mktemp("credit-routes")) as opened:
        yield opened


@contextmanager
def _api(db_url: str, folder: Path) -> Iterator[Api]:
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
    )
    services = Services.open(settings)

    def rec(kind: str, payload: dict[str, Any]) -> NewEntry:
        return record_entry(kind, payload, "officer:test", T)

    product = {
        "gtin": GTIN,
        "name": "奶粉",
        "hs_code": "040210",
        "origin_country": "NZ",
        "owner_uscc": A,
        "risk_class": "high",
    }
    declared = {
        "gtin": GTIN,
        "batch": "B1",
        "quantity": 10,
        "produced_on": "2025-12-01",
        "port": "CNSZX",
        "declaration_no": "D1",
        "declarant_uscc": A,
    }
    found = {
        "uscc": A,
        "item": "ciq.evade-inspection",
        "occurred_on": "2026-01-01",
        "case_no": "C1",
    }
    result = services.ledger.append(
        [
            rec("enterprise.filed", enterprise_payload(1, filed_on="2020-01-01")),
            rec("violation.recorded", found),
            rec("product.filed", product),
        ]
    )
    assert not result.rejected
    assert not services.ledger.append([rec("batch.declared", declared)]).rejected
    tokens = {
        role: create_key(services.engine, role)[1] for role in ("officer", "auditor", "platform")
    }
    with TestClient(create_app(services=services)) as client:
        yield client, services, tokens
    services.close()


def get(client: Any, url: str, token: str | None = None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers, params=params)


def test_an_officer_sees_grade_reasons_measures_and_history(api: Any) -> None:
    client, _, tokens = api
    response = get(
        client, f"/v1/enterprises/{A.lower()}/credit", tokens["officer"], as_of="2026-03-01"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["grade"], body["score"], body["rule"]) == ("B", 6, "ciq.b")
    assert body["grade_en"] == "B (ordinary)" and body["measures"]["inspection_percent"] == "20"
    item = next(r for r in body["reasons"] if r["rule"] == "ciq.evade-inspection")
    assert item["points"] == 6 and item["entries"] == [1]
    assert item["window"] == {"from": "2025-03-02", "to": "2026-03-01"}
    assert [h["grade"] for h in body["history"]] == ["B"]
    assert body["repair"]["refused"].startswith("grade B")
    auditor = get(
        client,
        f"/v1/enterprises/{A}/credit",
        tokens["auditor"],
        policy="cn-gacc-2026",
        as_of="2026-03-01",
    )
    assert auditor.status_code == 200 and auditor.json()["grade"] == "routine"


@pytest.mark.parametrize(
    ("token", "params", "status", "field"),
    [
        (None, {}, 401, None),
        ("platform", {}, 403, None),
        ("officer", {"as_of": "2026-02-30"}, 400, "as_of"),
        ("officer", {"policy": "cn-none"}, 400, "policy"),
        ("officer", {"policy": "cn-gacc-2026", "as_of": "2025-12-31"}, 400, "as_of"),
    ],
)
def test_bad_requests_are_problems(
    reading: Any, token: str | None, params: dict[str, str], status: int, field: str | None
) -> None:
    client, _, tokens = reading
    response = get(client, f"/v1/enterprises/{A}/credit", tokens.get(token or ""), **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if field:
        assert response.json()["errors"][0]["field"] == field


def test_unknown_and_malformed_enterprises(reading: Any) -> None:
    client, _, tokens = reading
    assert get(client, f"/v1/enterprises/{uscc(2)}/credit", tokens["officer"]).status_code == 404
    assert get(client, "/v1/enterprises/123/credit", tokens["officer"]).status_code == 400


def test_a_decision_is_recomputable_from_the_checkpoint_it_names(api: Any) -> None:
    client, services, tokens = api
    url = f"/v1/batches/{GTIN}/B1/decision"
    response = client.post(url, headers={"Authorization": f"Bearer {tokens['officer']}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["grade"], body["risk_class"], body["rate"]) == ("B", "high", "2/5")
    root = services.ledger.checkpoint_at(body["checkpoint_size"]).root
    seed = decision_seed(root, batch_id(GTIN, "B1"))
    assert base64.b64decode(body["seed"]) == seed
    assert body["decision"] == draw(seed, Fraction(body["rate"]))
    # The seed's checkpoint is the first that covers the declaration (its own batch's):
    # signed with it, so the declarant could not know the seed when declaring, and no
    # later checkpoint (nor asking again) changes it.
    with services.engine.connect() as conn:
        declared = conn.exec_driver_sql(
            f"SELECT declared_entry FROM proj_batches WHERE gtin = '{GTIN}' AND batch = 'B1'"
        ).scalar_one()
    covering = services.ledger.first_checkpoint_covering(declared)
    assert covering is not None and body["checkpoint_size"] == covering.size > declared
    services.ledger.append([record_entry("enterprise.filed", enterprise_payload(7), "officer:t")])
    again = client.post(url, headers={"Authorization": f"Bearer {tokens['officer']}"})
    assert again.json() == body  # the same checkpoint, the same draw
    assert (
        client.post(url, headers={"Authorization": f"Bearer {tokens['auditor']}"}).status_code
        == 403
    )
    missing = client.post(
        f"/v1/batches/{GTIN}/B9/decision", headers={"Authorization": f"Bearer {tokens['officer']}"}
    )
    assert missing.status_code == 404 and "is not declared" in missing.json()["detail"]


def test_policies_are_public(reading: Any) -> None:
    client, _, _ = reading
    body = client.get("/v1/credit/policies").json()
    assert [p["id"] for p in body] == ["cn-ciq-2014", "cn-gacc-2026"]
    assert body[0]["measures"]["D"]["public_list"] == "black"


def test_an_officer_draws_and_anyone_verifies_the_draw(api: Any) -> None:
    client, _, tokens = api
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    response = client.post("/v1/draws", json={"count": 1}, headers=officer)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["picks"] == [A] and made["population"] == 1
    # Requested first; the draw names the request and the policy it weighted by.
    assert made["request"] < made["entry"] and made["policy"] == "cn-ciq-2014"
    assert made["seed_size"] == made["request"] + 1  # the request's own batch's checkpoint
    request = client.get(f"/v1/ledger/entries/{made['request']}").json()
    assert request["envelope"]["kind"] == "draw.requested"
    assert request["payload"]["draw_id"] == made["draw_id"]  # draws are public
    check = client.get(f"/v1/draws/{made['draw_id']}")
    assert check.status_code == 200 and check.json()["matches"] is True
    assert client.get("/v1/draws/0123456789abcdef").status_code == 404
    assert client.get("/v1/draws/No_pe").status_code == 400
    too_many = client.post("/v1/draws", json={"count": 2}, headers=officer)
    assert too_many.status_code == 422 and "count must be 1 to 1" in too_many.json()["detail"]
    assert client.post("/v1/draws", json={"count": 0}, headers=officer).status_code == 400
    assert client.post("/v1/draws", json={"count": 1, "x": 1}, headers=officer).status_code == 400
    platform = {"Authorization": f"Bearer {tokens['platform']}"}
    assert client.post("/v1/draws", json={"count": 1}, headers=platform).status_code == 403


def test_sanctions_show_and_a_d_enterprise_is_proposed_for_the_blacklist(api: Any) -> None:
    client, services, tokens = api
    officer = tokens["officer"]
    assert get(client, "/v1/credit/proposals", officer).json() == []
    card = {"uscc": A, "reason": "迟报", "on": "2026-01-01"}
    serious = [
        {"uscc": A, "item": "ciq.adulteration", "occurred_on": "2026-01-01", "case_no": f"S{i}"}
        for i in range(3)
    ]
    entries = [record_entry("sanction.yellow_card", card, "officer:test", T)]
    entries += [record_entry("violation.recorded", v, "officer:test", T) for v in serious]
    assert not services.ledger.append(entries).rejected
    body = get(client, f"/v1/enterprises/{A}/credit", officer, as_of="2026-03-01").json()
    assert body["grade"] == "D" and body["proposed_for_blacklist"] is True
    assert [(s["kind"], s["on"]) for s in body["sanctions"]] == [
        ("sanction.yellow_card", "2026-01-01")
    ]
    proposed = get(client, "/v1/credit/proposals", officer).json()
    assert [(p["uscc"], p["grade"]) for p in proposed] == [(A, "D")]
    assert get(client, "/v1/credit/proposals", tokens["platform"]).status_code == 403
    notice = {"uscc": A, "reason": "严重失信"}
    assert not services.ledger.append(
        [record_entry("blacklist.noticed", notice, "officer:test", T)]
    ).rejected
    assert get(client, "/v1/credit/proposals", officer).json() == []  # noticed: off the list


def test_a_scoped_draw_over_http_assigns_inspectors(api: Any) -> None:
    client, _, tokens = api
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    body = {"count": 1, "grades": ["B"], "roster": ["li", "wang"], "inspectors": 1, "draw_id": "q1"}
    response = client.post("/v1/draws", json=body, headers=officer)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (
        made["draw_id"] == "q1"
        and made["picks"] == [A]
        and made["inspectors"] in (["li"], ["wang"])
    )
    assert client.get("/v1/draws/q1").json()["matches"] is True
    again = client.post("/v1/draws", json=body, headers=officer)
    assert again.status_code == 422 and "already recorded" in again.json()["detail"]
    bad_port = client.post("/v1/draws", json={"count": 1, "port": "x"}, headers=officer)
    assert bad_port.status_code == 400 and bad_port.json()["errors"][0]["field"] == "port"
    bad_id = client.post("/v1/draws", json={"count": 1, "draw_id": "Q 1"}, headers=officer)
    assert bad_id.status_code == 400 and bad_id.json()["errors"][0]["field"] == "draw_id"
    none = client.post("/v1/draws", json={"count": 1, "grades": ["AA"]}, headers=officer)
    assert none.status_code == 422 and "no active enterprise" in none.json()["detail"]
