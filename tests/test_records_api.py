"""POST /v1/records over the real app: auth, validation, rules, proofs, idempotency."""

from __future__ import annotations

import base64
import concurrent.futures
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledger.records.entry import record_entry
from ledger.store.config import LedgerConfig
from ledger.store.engine import create_db_engine
from ledger.tlog.checkpoint import TlogProof
from ledger.tlog.merkle import verify_inclusion
from lookup_api.app import create_app
from lookup_api.auth import AuthError, create_key, revoke_key
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise, enterprise_payload, uscc

OFFICER_USCC = uscc(1)
JSON = "application/json"


Api = tuple[TestClient, Services, dict[str, str]]  # type: ignore[type-arg]


@contextmanager
def _api(db_url: str, folder: Path) -> Iterator[Api]:
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
    )
    services = Services.open(settings)
    tokens = {role: create_key(services.engine, role)[1] for role in ("officer", "platform")}
    with TestClient(create_app(services=services)) as client:
        yield client, services, tokens
    services.close()


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """An empty log of the test's own, for tests that write."""
    with _api(db_url, tmp_path) as opened:
        yield opened


@pytest.fixture(scope="module")
def refusing(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One empty log for the module's tests whose requests are all refused (each checks
    that the log is still empty, or writes nowhere)."""
    with _api(module_db_url, tmp_path_factory.mktemp("records-api")) as opened:
        yield opened


def post(client: TestClient, token: str | None, body: Any, **headers: str) -> Any:  # type: ignore[type-arg]
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/v1/records", json=body, headers=headers)


def test_officer_appends_and_gets_a_verifiable_receipt(api: Any) -> None:
    client, services, tokens = api
    response = post(
        client, tokens["officer"], {"kind": "enterprise.filed", "payload": enterprise_payload(1)}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["index"] == 0 and body["subject"] == f"uscc:{OFFICER_USCC}"
    proof = body["inclusion_proof"]
    root = base64.b64decode(body["checkpoint"].split("\n")[2])
    verify_inclusion(
        0,
        proof["tree_size"],
        base64.b64decode(body["leaf_hash"]),
        [base64.b64decode(h) for h in proof["audit_path"]],
        root,
    )
    TlogProof.parse(body["tlog_proof"]).verify(
        base64.b64decode(body["leaf_hash"]), services.ledger.verifier, ORIGIN
    )
    assert response.headers["location"] == "/v1/ledger/entries/0"
    entry = client.get("/v1/ledger/entries/0").json()
    assert entry["envelope"]["actor"].startswith("officer:")
    assert entry["payload"]["name"] == enterprise_payload(1)["name"]


def test_idempotency_key_returns_the_first_result(api: Any) -> None:
    client, services, tokens = api
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(2)}
    first = post(client, tokens["officer"], body, **{"Idempotency-Key": "req-1"})
    again = post(client, tokens["officer"], body, **{"Idempotency-Key": "req-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert services.ledger.size() == 2  # the filing and its credit.graded
    other = post(
        client,
        tokens["officer"],
        {"kind": "enterprise.filed", "payload": enterprise_payload(3)},
        **{"Idempotency-Key": "req-1"},
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert services.ledger.size() == 2


def test_concurrent_retries_make_one_entry(api: Any) -> None:
    client, services, tokens = api
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(4)}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(
            pool.map(
                lambda _: post(client, tokens["officer"], body, **{"Idempotency-Key": "same"}),
                range(6),
            )
        )
    assert {r.status_code for r in responses} == {201}
    assert {r.json()["index"] for r in responses} == {0}
    assert services.ledger.size() == 2  # the filing and its credit.graded


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {
                "kind": "enterprise.filed",
                "payload": {**enterprise_payload(1), "uscc": "91440300MA5F0000XC"},
            },
            400,
            "uscc",
        ),
        (
            {
                "kind": "enterprise.filed",
                "payload": {**enterprise_payload(1), "filed_on": "2099-01-01"},
            },
            400,
            "filed_on",
        ),
        (
            {"kind": "enterprise.filed", "payload": {**enterprise_payload(1), "roles": ["pilot"]}},
            400,
            "roles[0]",
        ),
        ({"kind": "no.such", "payload": {}}, 400, "kind"),
        (
            {
                "kind": "product.filed",
                "payload": {
                    "gtin": "6901234567892",
                    "name": "P",
                    "hs_code": "190110",
                    "origin_country": "NZ",
                    "owner_uscc": uscc(99),
                    "risk_class": "low",
                },
            },
            422,
            "owner_uscc",
        ),
        (
            {
                "kind": "violation.recorded",
                "payload": {
                    "uscc": uscc(99),
                    "item": "ciq.adulteration",
                    "occurred_on": "2025-01-01",
                    "case_no": "x",
                },
            },
            422,
            "uscc",
        ),
    ],
)
def test_bad_records_are_refused_naming_the_field(
    refusing: Any, body: Any, status: int, field: str
) -> None:
    client, services, tokens = refusing
    response = post(client, tokens["officer"], body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field
    assert services.ledger.size() == 0


def test_malformed_bodies_are_400(refusing: Any) -> None:
    client, _, tokens = refusing
    headers = {"Authorization": f"Bearer {tokens['officer']}", "Content-Type": "application/json"}
    for raw in (b"{", b"[]", b'{"kind": "enterprise.filed"}', b'{"kind": 1, "payload": {}}'):
        response = client.post("/v1/records", content=raw, headers=headers)
        assert response.status_code == 400, (raw, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


def test_writes_need_a_key_with_the_right_role(api: Any) -> None:
    client, services, tokens = api
    services.ledger.append([enterprise(7)])  # an enterprise key needs its enterprise filed
    enterprise_key = create_key(services.engine, "enterprise", uscc(7))[1]
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(5)}
    assert post(client, None, body).status_code == 401
    assert post(client, "ct_nope_nope", body).status_code == 401
    assert post(client, tokens["officer"] + "x", body).status_code == 401
    assert post(client, tokens["platform"], body).status_code == 403
    assert post(client, enterprise_key, body).status_code == 403  # enterprises do not file
    assert services.ledger.size() == 2  # enterprise 7 and its credit.graded


def test_an_enterprise_key_writes_only_its_own_records(api: Any) -> None:
    client, services, tokens = api
    assert (
        post(
            client,
            tokens["officer"],
            {"kind": "enterprise.filed", "payload": enterprise_payload(7)},
        ).status_code
        == 201
    )
    assert (
        post(
            client,
            tokens["officer"],
            {"kind": "enterprise.filed", "payload": enterprise_payload(8)},
        ).status_code
        == 201
    )
    enterprise_key = create_key(services.engine, "enterprise", uscc(7))[1]
    own = {
        "gtin": "6901234567892",
        "name": "P",
        "hs_code": "190110",
        "origin_country": "NZ",
        "owner_uscc": uscc(7),
        "risk_class": "low",
    }
    response = post(client, enterprise_key, {"kind": "product.filed", "payload": own})
    assert response.status_code == 201, response.text
    theirs = {**own, "gtin": "09506000134352", "owner_uscc": uscc(8)}
    response = post(client, enterprise_key, {"kind": "product.filed", "payload": theirs})
    assert response.status_code == 403
    assert "owner_uscc" in response.json()["detail"]
    assert services.ledger.size() == 5  # two graded filings and the product


def test_an_enterprise_key_needs_its_enterprise_filed_and_active(api: Any) -> None:
    _client, services, _tokens = api
    with pytest.raises(AuthError, match="is not filed"):
        create_key(services.engine, "enterprise", uscc(9))
    services.ledger.append([enterprise(9)])
    create_key(services.engine, "enterprise", uscc(9))
    revocation = {"uscc": uscc(9), "reason": "licence withdrawn"}
    services.ledger.append([record_entry("enterprise.revoked", revocation, "officer:test")])
    with pytest.raises(AuthError, match="is revoked"):
        create_key(services.engine, "enterprise", uscc(9))


def test_a_revoked_key_is_refused_on_the_next_request_in_every_process(api: Any) -> None:
    client, services, tokens = api
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(5)}
    assert post(client, tokens["officer"], body).status_code == 201
    key_id = tokens["officer"].split("_")[1]
    # Another process: its own engine and key store, sharing only the database.
    other = create_db_engine(services.engine.url.render_as_string(hide_password=False))
    try:
        assert revoke_key(other, key_id)
    finally:
        other.dispose()
    again = {"kind": "enterprise.filed", "payload": enterprise_payload(6)}
    response = post(client, tokens["officer"], again)
    assert response.status_code == 401
    assert services.ledger.size() == 2  # the filing and its credit.graded


def test_the_body_is_read_only_after_authentication(api: Any) -> None:
    client, services, tokens = api
    nested = b'{"kind": "enterprise.filed", "payload": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    anonymous = client.post("/v1/records", content=nested, headers={"Content-Type": JSON})
    assert anonymous.status_code == 401  # not 400: the body was never parsed
    response = client.post(
        "/v1/records",
        content=nested,
        headers={"Content-Type": JSON, "Authorization": f"Bearer {tokens['officer']}"},
    )
    assert response.status_code == 400, response.text
    assert "nested deeper than" in response.json()["detail"]
    assert services.ledger.size() == 0


def test_duplicate_keys_are_refused_at_every_level(refusing: Any) -> None:
    client, services, tokens = refusing
    payload = json.dumps(enterprise_payload(1), ensure_ascii=False)
    bodies = [
        '{"kind": "product.filed", "kind": "enterprise.filed", "payload": ' + payload + "}",
        '{"kind": "enterprise.filed", "payload": ' + payload[:-1] + ', "name": "别名"}}',
        '{"kind": "enterprise.filed", "payload": ' + payload[:-1] + ', "\\u006eame": "x"}}',
    ]
    for body in bodies:
        response = client.post(
            "/v1/records",
            content=body.encode(),
            headers={"Content-Type": JSON, "Authorization": f"Bearer {tokens['officer']}"},
        )
        assert response.status_code == 400, body
        assert "duplicate key" in response.json()["detail"]
    assert services.ledger.size() == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        None,
    ],
)
def test_only_a_json_body_is_read(api: Any, content_type: str | None) -> None:
    client, services, tokens = api
    body = json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(1)})
    headers = {"Authorization": f"Bearer {tokens['officer']}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/records", content=body.encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert services.ledger.size() == 0
    charset = {**headers, "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/v1/records", content=body.encode(), headers=charset).status_code == 201


def test_the_request_body_is_documented(refusing: Any) -> None:
    client, _services, _tokens = refusing
    operation = client.get("/schema/openapi.json").json()["paths"]["/v1/records"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["oneOf"]
    assert all(variant["required"] == ["kind", "payload"] for variant in schema["oneOf"])


def test_a_write_while_the_service_stops_is_503_and_writes_nothing(api: Any) -> None:
    client, services, tokens = api
    size = services.ledger.size()
    services.appender.close()
    response = post(
        client, tokens["officer"], {"kind": "enterprise.filed", "payload": enterprise_payload(1)}
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/stopping"
    assert services.ledger.size() == size
