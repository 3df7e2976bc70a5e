"""The OpenAPI document tells the truth: errors as problem+json, 404s and 400s where routes
answer them, the key scheme, parameter constraints; the reference page needs nothing
from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledger.records.kinds import KINDS
from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        ledger=LedgerConfig(f"sqlite:///{tmp / 'c.db'}", Path(tmp / "k.key"), ORIGIN),
        code_key_file=Path(tmp / "codes.key"),
    )
    services = Services.open(settings)
    services.ledger.append([enterprise(1)])
    with TestClient(create_app(services=services)) as client:
        yield client, client.get("/schema/openapi.json").json()
    services.close()


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def test_every_error_is_documented_as_problem_json(served: Any) -> None:
    _client, schema = served
    errors = [
        (path, method, status, response)
        for path, method, operation in operations(schema)
        for status, response in operation["responses"].items()
        if not status.startswith(("2", "3"))
    ]
    assert errors
    wrong = [
        (path, method, status)
        for path, method, status, response in errors
        if list(response.get("content", {})) != ["application/problem+json"]
    ]
    assert wrong == []
    assert "ProblemDetails" in schema["components"]["schemas"]


def test_routes_with_parameters_document_400_and_lookups_404(served: Any) -> None:
    _client, schema = served
    for path, method, operation in operations(schema):
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in operation["responses"], (method, path)
        if "{" in path:
            assert "404" in operation["responses"], (method, path)


def test_the_key_scheme_and_the_secured_route(served: Any) -> None:
    _client, schema = served
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    post = schema["paths"]["/v1/records"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert {"401", "403", "415", "422"} <= set(post["responses"])


def test_index_parameters_state_their_one_spelling(served: Any) -> None:
    _client, schema = served
    entry = schema["paths"]["/v1/ledger/entries/{index}"]["get"]
    (index,) = [p for p in entry["parameters"] if p["name"] == "index"]
    assert index["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**62,
        "description": "a decimal integer in ASCII digits, without sign or leading zeros",
    }
    proof = schema["paths"]["/v1/ledger/proof/consistency"]["get"]
    sizes = {p["name"]: p["schema"] for p in proof["parameters"]}
    assert sizes["first"]["minimum"] == sizes["second"]["minimum"] == 1
    assert "oneOf" not in sizes["second"]


def test_identifier_patterns_are_ecma_and_exact(served: Any) -> None:
    _client, schema = served
    text = str(schema)
    assert "\\Z" not in text
    batch = schema["paths"]["/v1/batches/{gtin}/{batch}"]["get"]
    params = {p["name"]: p["schema"] for p in batch["parameters"]}
    assert params["gtin"]["format"] == "gtin"
    assert re.fullmatch(params["batch"]["pattern"].strip("^$"), "L-2026.01_a")
    assert not re.fullmatch(params["batch"]["pattern"].strip("^$"), "L 1")
    tile = schema["paths"]["/tile/{path}"]["get"]["parameters"][0]["schema"]["pattern"]
    assert re.fullmatch(tile.strip("^$"), "0/x001/234")
    assert re.fullmatch(tile.strip("^$"), "entries/005.p/17")
    assert not re.fullmatch(tile.strip("^$"), "64/000")
    assert not re.fullmatch(tile.strip("^$"), "0/000.p/256")


def test_each_kind_documents_its_payload(served: Any) -> None:
    _client, schema = served
    body = schema["paths"]["/v1/records"]["post"]["requestBody"]["content"]["application/json"]
    variants = body["schema"]["oneOf"]
    kinds = [v["properties"]["kind"]["const"] for v in variants]
    assert kinds == sorted(KINDS)
    batch = variants[kinds.index("batch.declared")]["properties"]["payload"]
    assert "declarant_uscc" in batch["required"]
    assert batch["additionalProperties"] is False


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/ledger/entries/abc", "400"),
        ("/v1/ledger/entries/99", "404"),
        ("/v1/ledger/checkpoints/5", "404"),
        ("/v1/ledger/entries/99/proof", "404"),
        ("/v1/enterprises/not-a-uscc", "400"),
    ],
)
def test_answers_are_among_the_documented_ones(served: Any, path: str, status: str) -> None:
    client, schema = served
    response = client.get(path)
    assert str(response.status_code) == status
    template = next(
        t for t in schema["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)
    )
    assert status in schema["paths"][template]["get"]["responses"]


def test_the_reference_page_is_whole_and_loads_nothing_from_elsewhere(served: Any) -> None:
    client, schema = served
    page = client.get("/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)
    assert "<script" not in page.text
    for path in schema["paths"]:
        assert path in page.text
