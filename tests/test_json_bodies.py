"""Every route that takes a JSON body, walked from the OpenAPI document: deep nesting and
duplicate keys are a 400 problem, another media type a 415, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], str]]:
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
    )
    services = Services.open(settings)
    try:
        token = create_key(services.engine, "officer")[1]
        with TestClient(create_app(settings, services)) as client:
            yield client, token
    finally:
        services.close()


def _body_routes(client: TestClient[Litestar], media_type: str = "application/json") -> list[str]:
    paths = client.app.openapi_schema.to_schema()["paths"]
    return sorted(
        path
        for path, ops in paths.items()
        if media_type in ops.get("post", {}).get("requestBody", {}).get("content", {})
    )


def test_the_pages_forms_take_no_json(served: tuple[TestClient[Litestar], str]) -> None:
    """The officers' forms read form fields only: a JSON body is 415, not parsed."""
    client, token = served
    forms = _body_routes(client, "application/x-www-form-urlencoded")
    assert {"/officer/login", "/officer/records/new"} <= set(forms)
    for path in forms:
        sent = client.post(
            path,
            content=b'{"csrf": "x"}',
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Origin": "http://testserver.local",  # the client's own: past the origin check
            },
        )
        assert sent.status_code == 415, (path, sent.text[:200])


def test_every_json_body_is_read_strictly(served: tuple[TestClient[Litestar], str]) -> None:
    client, token = served
    routes = _body_routes(client)
    assert {"/v1/records", "/v1/draws", "/v1/codes/batches", "/v1/verify/filings"} <= set(routes)
    auth = {"Authorization": f"Bearer {token}"}
    for path in routes:
        deep = client.post(
            path,
            content=b"[" * 3000 + b"]" * 3000,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert deep.status_code == 400, (path, deep.text[:200])
        assert deep.headers["content-type"].startswith("application/problem+json"), path
        text = client.post(path, content=b"{}", headers={**auth, "Content-Type": "text/plain"})
        assert text.status_code == 415, (path, text.text[:200])
        twice = client.post(  # the first of two equal keys is not what a reader would see
            path,
            content=b'{"count": 1, "count": 2}',
            headers={**auth, "Content-Type": "application/json"},
        )
        assert twice.status_code == 400, (path, twice.text[:200])
        assert "duplicate key 'count'" in twice.json()["detail"], path
