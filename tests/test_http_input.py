"""Hostile input on the read routes: one spelling per integer, HEAD wherever GET answers,
refused values quoted only by a short prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.problems import INSTANCE_LIMIT, QUOTE_LIMIT
from lookup_api.ratelimit import RateLimits, RatePolicy
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN, write_migrated_sqlite
from tests.factories import enterprise, without_regrading

SIZE = 20


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: bytes
) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """One served log for the module: every test here only reads."""
    folder = tmp_path_factory.mktemp("http-input")
    url = write_migrated_sqlite(folder / "ledger.db", sqlite_template)
    settings = Settings(
        ledger=LedgerConfig(url, folder / "ledger.key", ORIGIN), code_key_file=folder / "codes.key"
    )
    services = Services.open(settings)
    without_regrading(services.ledger)  # the routes' input, not grades, is tested here
    services.ledger.append([enterprise(n) for n in range(SIZE)])
    with TestClient(create_app(services=services)) as test_client:
        yield test_client
    services.close()


# Each spelling Litestar's int conversion took as a number: letters, Arabic-Indic one,
# a sign, a leading zero, an exponent, a trailing newline, space, underscore, too long.
NOT_CANONICAL = ["abc", "%D9%A1", "%2B1", "01", "1e3", "1%0A", "%201", "1_0", "1" * 20, "-1"]


@pytest.mark.parametrize("spelling", NOT_CANONICAL)
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("/v1/ledger/entries/{}", "index"),
        ("/v1/ledger/entries/{}/proof", "index"),
        ("/v1/ledger/checkpoints/{}", "size"),
        ("/v1/ledger/entries?start={}", "start"),
        ("/v1/ledger/entries?start=0&end={}", "end"),
        ("/v1/ledger/proof/inclusion?index={}", "index"),
        ("/v1/ledger/proof/inclusion?index=0&tree_size={}", "tree_size"),
        ("/v1/ledger/proof/consistency?first={}", "first"),
        ("/v1/ledger/proof/consistency?first=1&second={}", "second"),
    ],
)
def test_integers_have_one_spelling(
    client: TestClient,  # type: ignore[type-arg]
    template: str,
    field: str,
    spelling: str,
) -> None:
    response = client.get(template.format(spelling))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    assert field in problem["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/ledger/entries/0",
        "/v1/ledger/entries/0/proof",
        f"/v1/ledger/checkpoints/{SIZE}",
        "/v1/ledger/entries?start=0&end=1",
        "/v1/ledger/proof/inclusion?index=0",
        f"/v1/ledger/proof/consistency?first=1&second={SIZE}",
    ],
)
def test_canonical_integers_answer(client: TestClient, path: str) -> None:  # type: ignore[type-arg]
    assert client.get(path).status_code == 200


def test_a_number_beyond_the_index_range_names_the_range(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    problem = client.get(f"/v1/ledger/entries/{2**62 + 1}").json()
    assert problem["status"] == 400
    assert "between 0 and" in problem["detail"]


def test_a_long_refused_value_is_quoted_by_a_short_prefix(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    value = "!" * 10_000
    response = client.get("/v1/ledger/proof/inclusion", params={"leaf_hash": value})
    assert response.status_code == 400
    assert "!" * (QUOTE_LIMIT + 1) not in response.text
    assert "10,000 characters" in response.text
    assert len(response.content) < 1_000


@pytest.mark.parametrize(
    "path",
    [
        "/no/such/route/" + "x" * 6_000,  # unmatched
        "/v1/ledger/entries/" + "1" * 6_000,  # a route's own refusal
        "/v1/enterprises/" + "9" * 6_000,
    ],
)
def test_a_problem_names_its_instance_by_a_short_prefix(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    instance = response.json()["instance"]
    assert path.startswith(instance) and len(instance) == INSTANCE_LIMIT
    assert len(response.content) < 2_000


def test_a_rate_limited_answer_names_its_instance_by_a_short_prefix(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        ledger=LedgerConfig(sqlite_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        rate_limits=RateLimits(public=RatePolicy("public", 1, 60)),
    )
    path = "/v1/ledger/entries/" + "7" * 6_000
    with TestClient(create_app(settings)) as limited:
        limited.get(path)
        refused = limited.get(path)
    assert refused.status_code == 429
    assert refused.json()["instance"] == path[:INSTANCE_LIMIT]


def test_every_get_route_answers_head(client: TestClient) -> None:  # type: ignore[type-arg]
    paths = [
        "/checkpoint",
        "/v1/ledger/key",
        "/v1/ledger/entries/0",
        "/v1/ledger/entries?start=0&end=2",
        f"/v1/ledger/checkpoints/{SIZE}",
        "/tile/0/000.p/20",
        "/health",
        "/metrics",
        "/schema",
        "/schema/openapi.json",
    ]
    for path in paths:
        get = client.get(path)
        head = client.head(path)
        assert (head.status_code, get.status_code) == (200, 200), path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"], path
        if path != "/metrics":  # its counts grow with every request, this HEAD's included
            assert head.headers["content-length"] == str(len(get.content)), path
    missing = client.head("/v1/ledger/entries/999")
    assert missing.status_code == 404 and missing.content == b""
    assert client.head("/v1/records").status_code == 405  # a POST route stays POST only


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/x999/x999/x999/x999/x999/x999/x999/000",  # an index no 64-bit column holds
        "/tile/entries/x999/x999/x999/x999/x999/x999/x999/000.p/3",
        "/tile/63/x004/x611/x686/x018/x427/x387/905",  # just past the largest index
    ],
)
def test_tiles_beyond_any_log_are_not_found(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
