"""Metrics and logs: latency by route, refusals by policy, batch sizes, summed over workers;
JSON log lines with the request's fields and never its key."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.logs import JsonFormatter
from lookup_api.metrics import Metrics, SharedMetrics, merge, render
from lookup_api.middleware import CLIENT_CLOSED
from lookup_api.ratelimit import RateLimits, RatePolicy
from lookup_api.settings import Settings
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload
from tests.served import served


def _series(text: str, name: str) -> dict[str, float]:
    """``name``'s samples of a Prometheus exposition, by their label text."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_a_histogram_renders_cumulative_buckets_sum_and_count() -> None:
    metrics = Metrics()
    for seconds in (0.0004, 0.003, 0.003, 7.0):
        metrics.observe_request("/checkpoint", "GET", 200, seconds)
    text = render(merge([metrics.snapshot()]), {"credtrace_tree_size": ("Entries.", 5)})
    buckets = _series(text, "credtrace_http_request_duration_seconds_bucket")
    labels = 'route="/checkpoint",method="GET",code="200"'
    assert buckets[f'{{{labels},le="0.001"}}'] == 1
    assert buckets[f'{{{labels},le="0.0025"}}'] == 1
    assert buckets[f'{{{labels},le="0.005"}}'] == 3
    assert buckets[f'{{{labels},le="5"}}'] == 3
    assert buckets[f'{{{labels},le="+Inf"}}'] == 4
    assert _series(text, "credtrace_http_request_duration_seconds_count")[f"{{{labels}}}"] == 4
    total = _series(text, "credtrace_http_request_duration_seconds_sum")[f"{{{labels}}}"]
    assert total == pytest.approx(7.0064)
    assert _series(text, "credtrace_tree_size") == {"": 5}
    assert "# TYPE credtrace_http_request_duration_seconds histogram" in text


def test_workers_files_are_summed(tmp_path: Path) -> None:
    one, two = Metrics(), Metrics()
    one.observe_request("/x", "GET", 200, 0.01)
    two.observe_request("/x", "GET", 200, 0.02)
    two.count_rate_limited("public")
    SharedMetrics(two, tmp_path).write()
    # ``two`` wrote under this process's name: give it another worker's.
    (tmp_path / f"{os.getpid()}.json").rename(tmp_path / "1.json")
    text = render(SharedMetrics(one, tmp_path).all_counts(), {})
    assert _series(text, "credtrace_http_request_duration_seconds_count") == {
        '{route="/x",method="GET",code="200"}': 2
    }
    assert _series(text, "credtrace_rate_limited_total") == {'{policy="public"}': 1}


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        rate_limits=RateLimits(public=RatePolicy("public", 6, 60)),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_service_counts_routes_refusals_and_batches(client: TestClient[Litestar]) -> None:
    _, token = create_key(client.app.state.services.engine, "officer")
    auth = {"Authorization": f"Bearer {token}"}
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(1)}
    assert client.post("/v1/records", json=body, headers=auth).status_code == 201
    assert client.get("/v1/ledger/entries/0").status_code == 200
    assert client.head("/v1/ledger/entries/0").status_code == 200
    assert client.get("/v1/ledger/entries/99").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    statuses = [client.get("/v1/ledger/key").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]  # 6 requests per address
    text = client.get("/metrics", headers=auth).text
    counts = _series(text, "credtrace_http_request_duration_seconds_count")
    entry = "/v1/ledger/entries/{index}"
    assert counts[f'{{route="{entry}",method="GET",code="200"}}'] == 2  # HEAD as its GET
    assert counts[f'{{route="{entry}",method="GET",code="404"}}'] == 1
    assert counts['{route="unmatched",method="GET",code="404"}'] == 1
    assert counts['{route="/v1/records",method="POST",code="201"}'] == 1
    assert _series(text, "credtrace_rate_limited_total") == {'{policy="public"}': 2}
    assert _series(text, "credtrace_append_batch_entries_count") == {"": 1}
    assert _series(text, "credtrace_tree_size") == {"": 2}  # the filing and its first grade
    assert token not in text


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _post_cut_short(app: Litestar, token: str) -> list[int]:
    """POST /v1/records announcing 100 bytes, sending 7, then disconnecting; the statuses
    the app sent (to nobody)."""
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"kind"', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/records",
        "raw_path": b"/v1/records",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver.local"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent


def test_a_client_gone_mid_body_is_counted_as_closed_not_as_a_server_error(
    client: TestClient[Litestar],
) -> None:
    _, token = create_key(client.app.state.services.engine, "officer")
    access, kept = logging.getLogger("credtrace.access"), Kept()
    level = access.level
    access.addHandler(kept)
    access.setLevel(logging.INFO)
    try:
        _post_cut_short(client.app, token)
    finally:
        access.removeHandler(kept)
        access.setLevel(level)
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    counts = _series(text, "credtrace_http_request_duration_seconds_count")
    assert counts.get('{route="/v1/records",method="POST",code="499"}') == 1, counts
    assert not any('code="5' in labels for labels in counts), counts
    assert [r.__dict__["status"] for r in kept.records] == [CLIENT_CLOSED]
    assert client.app.state.services.ledger.size() == 0


def test_a_json_log_line_has_the_request_fields_and_no_key(client: TestClient[Litestar]) -> None:
    _, token = create_key(client.app.state.services.engine, "officer")
    access, kept = logging.getLogger("credtrace.access"), Kept()
    level = access.level
    access.addHandler(kept)
    access.setLevel(logging.INFO)
    try:
        client.get("/v1/ledger/key?secret=1", headers={"Authorization": f"Bearer {token}"})
    finally:
        access.removeHandler(kept)
        access.setLevel(level)
    assert kept.records
    line = json.loads(JsonFormatter().format(kept.records[-1]))
    assert line["level"] == "info" and line["logger"] == "credtrace.access"
    assert (line["method"], line["route"], line["path"], line["status"]) == (
        "GET",
        "/v1/ledger/key",
        "/v1/ledger/key",
        200,
    )
    assert line["ms"] >= 0 and line["ts"].endswith("+00:00")
    assert token not in json.dumps(line) and "secret" not in json.dumps(line)


@pytest.mark.slow
def test_any_worker_answers_for_all_of_them(db_url: str, tmp_path: Path) -> None:
    env: dict[str, str | None] = {
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_RATE_LIMITS": "off",
        "CREDTRACE_REDIS_URL": None,
    }
    with served(env) as server:
        base = server.base
        key = '{route="/v1/ledger/key",method="GET",code="200"}'
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(60):  # new connections: the kernel spreads them over both workers
                with httpx.Client(base_url=base, timeout=30) as fresh:
                    assert fresh.get("/v1/ledger/key").status_code == 200
            # Both workers answer scrapes; each must count all 60, once the other's file
            # is written (a second after its last request on an idle machine: poll for that
            # event, up to a bound that a loaded machine's slow workers stay within).
            deadline = time.monotonic() + 120
            while True:
                counts = _series(
                    http.get("/metrics").text, "credtrace_http_request_duration_seconds_count"
                )
                if counts.get(key) == 60 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # between polls
            assert counts.get(key) == 60, counts
        access = [
            json.loads(s) for s in server.lines if s.startswith("{") and '"credtrace.access"' in s
        ]
        assert "/v1/ledger/key" in {a["route"] for a in access}
