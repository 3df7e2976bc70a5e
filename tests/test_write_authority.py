"""Who may write what through POST /v1/records: the rule for every kind an enterprise may write.

An enterprise key writes only about itself, and batches, codes, recalls and product
revocations only for products it owns (the product's filing names it as owner_uscc).
Every refusal is a 403 problem naming its rule, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledger.records.handlers import ENTERPRISE_KINDS, PRODUCT_OWNER_KINDS, SERVICE_KINDS
from ledger.records.kinds import KINDS
from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc
from tests.unit.test_kinds import GTIN13, GTIN14, U1, U2, U3, VALID

A, B = uscc(7), uscc(8)
GTIN_A, GTIN_B = "06901234567892", "09506000134352"
HASH = "A" * 43 + "="


@dataclass
class Api:
    client: TestClient  # type: ignore[type-arg]
    services: Services
    officer: str
    a: str  # the key of enterprise A
    b: str  # the key of enterprise B

    def post(self, token: str, kind: str, payload: dict[str, Any]) -> Any:
        return self.client.post(
            "/v1/records",
            json={"kind": kind, "payload": payload},
            headers={"Authorization": f"Bearer {token}"},
        )

    def ok(self, token: str, kind: str, payload: dict[str, Any]) -> int:
        response = self.post(token, kind, payload)
        assert response.status_code == 201, response.text
        index: int = response.json()["index"]
        return index

    def forbidden(self, token: str, kind: str, payload: dict[str, Any], field: str) -> str:
        size = self.services.ledger.size()
        response = self.post(token, kind, payload)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["errors"][0]["field"] == field, body
        assert self.services.ledger.size() == size
        detail: str = body["detail"]
        return detail


def product(gtin: str, owner: str) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "name": "Milk powder",
        "hs_code": "040221",
        "origin_country": "NZ",
        "owner_uscc": owner,
        "risk_class": "medium",
    }


def batch(gtin: str, name: str, declarant: str) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "batch": name,
        "quantity": 100,
        "produced_on": "2025-01-01",
        "port": "CNSHA",
        "declaration_no": "2220" + name,
        "declarant_uscc": declarant,
    }


@contextmanager
def _api(db_url: str, folder: Path) -> Iterator[Api]:
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
    )
    services = Services.open(settings)
    officer = create_key(services.engine, "officer")[1]
    with TestClient(create_app(services=services)) as client:
        api = Api(client, services, officer, "", "")
        for n in (7, 8):
            api.ok(officer, "enterprise.filed", enterprise_payload(n))
        api.a = create_key(services.engine, "enterprise", A)[1]
        api.b = create_key(services.engine, "enterprise", B)[1]
        api.ok(api.a, "product.filed", product(GTIN_A, A))
        api.ok(api.b, "product.filed", product(GTIN_B, B))
        api.ok(api.b, "batch.declared", batch(GTIN_B, "B1", B))
        yield api
    services.close()


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """The log of the test's own, for tests that write."""
    with _api(db_url, tmp_path) as api:
        yield api


@pytest.fixture(scope="module")
def refusing(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One log for the module's tests whose every request is refused (each checks that
    nothing was written)."""
    with _api(module_db_url, tmp_path_factory.mktemp("write-authority")) as api:
        yield api


def test_the_kinds_an_enterprise_may_write_are_these_and_no_others() -> None:
    # A new kind must take a decision here (and in the README's table).
    assert {
        "product.filed",
        "product.revoked",
        "batch.declared",
        "codes.issued",
        "codes.revoked",
        "recall.issued",
        "recall.closed",
        "credit.repair_requested",
    } == ENTERPRISE_KINDS
    assert {"product.filed", "credit.repair_requested"} == ENTERPRISE_KINDS - PRODUCT_OWNER_KINDS


def test_a_batch_of_another_enterprise_product_is_forbidden_and_its_owner_declares_it(
    api: Api,
) -> None:
    detail = api.forbidden(api.a, "batch.declared", batch(GTIN_B, "B2", A), "gtin")
    assert f"belongs to {B}, not to {A}" in detail and "products it owns" in detail
    # The owner's own batch number is still free.
    api.ok(api.b, "batch.declared", batch(GTIN_B, "B2", B))


def _theirs(kind: str) -> dict[str, Any]:
    """A well-formed ``kind`` record about B's product, written as A."""
    payloads: dict[str, dict[str, Any]] = {
        "product.revoked": {"gtin": GTIN_B, "reason": "discontinued"},
        "batch.declared": batch(GTIN_B, "B3", A),
        "codes.issued": {
            "gtin": GTIN_B,
            "batch": "B1",
            "count": 10,
            "serials_root": HASH,
            "key_id": "0a1b2c3d",
        },
        "codes.revoked": {"gtin": GTIN_B, "batch": "B1", "serials": [], "reason": "stolen"},
        "recall.issued": {
            "gtin": GTIN_B,
            "batches": ["B1"],
            "reason": "allergen",
            "issued_on": "2025-02-01",
        },
        "recall.closed": {"gtin": GTIN_B, "entry": 4},
    }
    return payloads[kind]


@pytest.mark.parametrize("kind", sorted(PRODUCT_OWNER_KINDS - SERVICE_KINDS))
def test_product_owner_kinds_are_forbidden_on_another_enterprise_product(
    refusing: Api, kind: str
) -> None:
    detail = refusing.forbidden(refusing.a, kind, _theirs(kind), "gtin")
    assert f"belongs to {B}" in detail and kind in detail


@pytest.mark.parametrize("kind", sorted(PRODUCT_OWNER_KINDS - SERVICE_KINDS))
def test_product_owner_kinds_are_forbidden_on_a_product_nobody_filed(
    refusing: Api, kind: str
) -> None:
    payload = {**_theirs(kind), "gtin": "00000000000017"}
    detail = refusing.forbidden(refusing.a, kind, payload, "gtin")
    assert "is not filed" in detail and "products it owns" in detail


def test_the_owner_writes_every_product_owner_kind_for_its_own_product(api: Api) -> None:
    api.ok(api.a, "batch.declared", batch(GTIN_A, "A1", A))
    issued = api.client.post(  # codes are issued by their own route, which stores them
        "/v1/codes/batches",
        json={"gtin": GTIN_A, "batch": "A1", "count": 5},
        headers={"Authorization": f"Bearer {api.a}"},
    )
    assert issued.status_code == 201, issued.text
    api.ok(api.a, "codes.revoked", {"gtin": GTIN_A, "batch": "A1", "serials": [], "reason": "x"})
    recall = api.ok(
        api.a,
        "recall.issued",
        {"gtin": GTIN_A, "batches": ["A1"], "reason": "allergen", "issued_on": "2025-02-01"},
    )
    api.ok(api.a, "recall.closed", {"gtin": GTIN_A, "entry": recall})
    api.ok(api.a, "product.revoked", {"gtin": GTIN_A, "reason": "discontinued"})
    # Its own repair request passes the authority check; the credit rules then refuse it
    # (a request is for a D enterprise), which is a 422 naming the grade, not a 403.
    response = api.post(api.a, "credit.repair_requested", {"uscc": A, "grounds": "fine paid"})
    assert response.status_code == 422, response.text
    assert "is not one that repair is for (D)" in response.json()["detail"]


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("product.filed", product("00000000000017", B), "owner_uscc"),
        ("batch.declared", batch(GTIN_A, "A2", B), "declarant_uscc"),
        ("credit.repair_requested", {"uscc": B, "grounds": "fine paid"}, "uscc"),
    ],
)
def test_an_enterprise_writes_only_about_itself(
    refusing: Api, kind: str, payload: dict[str, Any], field: str
) -> None:
    detail = refusing.forbidden(refusing.a, kind, payload, field)
    assert f"for {A} writes only its own records, not for {B}" in detail


SWAP = {U1: A, U2: A, U3: A, GTIN13: GTIN_A, GTIN14: GTIN_A}


def _swapped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _swapped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_swapped(v) for v in value]
    return SWAP.get(value, value) if isinstance(value, str) else value


def _about_a(kind: str) -> dict[str, Any]:
    """The sample ``kind`` record of the schema tests, about enterprise A and its product."""
    payload: dict[str, Any] = _swapped(VALID[kind])
    return payload


@pytest.mark.parametrize("kind", sorted(SERVICE_KINDS))
@pytest.mark.parametrize("who", ["officer", "a"])
def test_what_the_service_writes_itself_nobody_records(refusing: Api, kind: str, who: str) -> None:
    # A forged grade, a code root naming another batch's serials, a draw picked by hand.
    size = refusing.services.ledger.size()
    detail = refusing.forbidden(getattr(refusing, who), kind, _about_a(kind), "kind")
    assert f"nobody records {kind} here" in detail
    assert refusing.services.ledger.size() == size
    assert {"credit.graded", "codes.issued", "draw.requested", "draw.made"} == SERVICE_KINDS


@pytest.mark.parametrize("kind", sorted(set(KINDS) - ENTERPRISE_KINDS - SERVICE_KINDS))
def test_officer_kinds_are_forbidden_to_an_enterprise_even_about_itself(
    refusing: Api, kind: str
) -> None:
    detail = refusing.forbidden(refusing.a, kind, _about_a(kind), "kind")
    assert f"cannot record {kind}: officers only" in detail


def test_the_key_of_a_revoked_enterprise_writes_nothing(api: Api) -> None:
    api.ok(api.officer, "enterprise.revoked", {"uscc": A, "reason": "licence withdrawn"})
    recall = {**_theirs("recall.issued"), "gtin": GTIN_A, "batches": []}
    detail = api.forbidden(api.a, "recall.issued", recall, "uscc")
    assert f"enterprise {A} is revoked" in detail
