"""Request limits over the real app: 413 for a body too large on every body route, and
503 with Retry-After for a request past the time limit (a live server, a slow client)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from ledger.store.service import RequestWrites
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.problems import PROBLEM_JSON
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.issuance import issue_codes
from tests.codes_env import BATCH, GTIN, seed
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload

LIMIT = 2_000
CODES_SERVICE = "lookup_api.routes.codes.service"
BODY_ROUTES = ["/v1/records", "/v1/codes/batches", "/v1/draws", "/v1/verify/filings"]


def _settings(db_url: str, tmp_path: Path, **fields: Any) -> Settings:
    return Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        **fields,
    )


Served = tuple[TestClient[Any], Services, str]


@contextmanager
def _small_bodies(db_url: str, folder: Path) -> Iterator[Served]:
    settings = _settings(db_url, folder, max_body_bytes=LIMIT)
    services = Services.open(settings)
    officer = create_key(services.engine, "officer")[1]
    try:
        with TestClient(create_app(settings, services)) as client:
            yield client, services, officer
    finally:
        services.close()


@pytest.fixture
def small_bodies(db_url: str, tmp_path: Path) -> Iterator[Served]:
    """A log of the test's own, for tests that write."""
    with _small_bodies(db_url, tmp_path) as served:
        yield served


@pytest.fixture(scope="module")
def refusing(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One log for the module's tests that write nothing (each checks that it did not)."""
    with _small_bodies(module_db_url, tmp_path_factory.mktemp("request-limits")) as served:
        yield served


def test_every_body_route_documents_413_and_every_route_503(
    refusing: Served,
) -> None:
    client, _, _ = refusing
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in BODY_ROUTES:
        assert "413" in paths[path]["post"]["responses"], path
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "429" in operation.get("responses", {}):
                assert "503" in operation["responses"], (method, path)


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("announced", [True, False])
def test_a_body_over_the_limit_is_413_and_writes_nothing(
    refusing: Served, path: str, announced: bool
) -> None:
    client, services, officer = refusing
    body = json.dumps({"kind": "enterprise.filed", "payload": {"name": "x" * LIMIT}}).encode()
    headers = {"Authorization": f"Bearer {officer}", "Content-Type": "application/json"}
    size = services.ledger.size()
    if announced:
        response = client.post(path, content=body, headers=headers)
    else:  # chunked: no Content-Length, the limit counts what arrives

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 500):
                yield body[start : start + 500]

        response = client.post(path, content=chunks(), headers=headers)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["type"] == "/problems/too-large" and f"{LIMIT:,} bytes" in problem["detail"]
    assert "x" * 50 not in response.text  # the refused body is not quoted back
    assert services.ledger.size() == size


def test_a_body_within_the_limit_is_taken(
    small_bodies: tuple[TestClient[Any], Services, str],
) -> None:
    client, services, officer = small_bodies

    response = client.post(
        "/v1/records",
        json={"kind": "enterprise.filed", "payload": enterprise_payload(1)},
        headers={"Authorization": f"Bearer {officer}"},
    )
    assert response.status_code == 201, response.text
    assert services.ledger.size() == 2  # the filing and its grading


class LiveServer:
    """The real app under uvicorn on a free port, in a thread of this process."""

    def __init__(self, settings: Settings, services: Services) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        config = uvicorn.Config(create_app(settings, services), log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [listener]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def exchange(self, raw: bytes, wait: float = 30) -> tuple[bytes, float]:
        """Send ``raw`` and read the answer until the server closes; (answer, seconds)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as conn:
            started = time.monotonic()
            conn.sendall(raw)
            answer = b""
            while b"\r\n\r\n" not in answer or not _complete(answer):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer, time.monotonic() - started


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _headers(answer: bytes) -> dict[str, str]:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}


def test_a_request_past_the_time_limit_is_503_with_retry_after(db_url: str, tmp_path: Path) -> None:
    settings = _settings(db_url, tmp_path, request_timeout=0.5)
    services = Services.open(settings)
    officer = create_key(services.engine, "officer")[1]
    try:
        with LiveServer(settings, services) as live:
            # A client that announces a body and sends a fifth of it, then stalls.
            head = (
                "POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {officer}\r\nContent-Type: application/json\r\n"
                "Content-Length: 100\r\n\r\n"
            ).encode()
            answer, seconds = live.exchange(head + b'{"kind": "enter')
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert 0.4 < seconds < 10, seconds
            headers = _headers(answer)
            assert headers["retry-after"] == "1"
            assert headers["content-type"].startswith(PROBLEM_JSON)
            problem = json.loads(answer.partition(b"\r\n\r\n")[2])
            assert problem["status"] == 503 and problem["type"] == "/problems/timeout"
            assert "nothing it sent was recorded" in problem["detail"]
            assert "Idempotency-Key" in problem["detail"]
            assert services.ledger.size() == 0
            # A request that is quick is answered as ever, by the same server.
            ok, _ = live.exchange(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert ok.startswith(b"HTTP/1.1 200"), ok
            metrics, _ = live.exchange(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            assert b'route="/v1/records",method="POST",code="503"' in metrics
    finally:
        services.close()


@pytest.fixture
def quick(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient[Any], Services, str]]:
    """The app with a short time limit over a declared batch; an officer's key."""
    settings = _settings(db_url, tmp_path, request_timeout=0.3)
    services = Services.open(settings)
    seed(services.ledger)
    officer = create_key(services.engine, "officer")[1]
    try:
        with TestClient(create_app(settings, services)) as client:
            yield client, services, officer
    finally:
        services.close()


def _issued_serials(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM qr_codes").scalar_one())


def test_a_handler_past_the_time_limit_writes_nothing_after_its_503(
    quick: tuple[TestClient[Any], Services, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issuance's thread is held before its append until the 503 has been sent; let
    go, its append is refused and its serials removed: the 503 is the whole truth."""
    client, services, officer = quick
    gate, finished = threading.Event(), threading.Event()

    def held_authorise(*_: Any) -> None:
        assert gate.wait(60), "the test never let the handler go"

    def issue_then_tell(*args: Any, **kwargs: Any) -> Any:
        try:
            return issue_codes(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(f"{CODES_SERVICE}.authorise", held_authorise)
    monkeypatch.setattr(f"{CODES_SERVICE}.issue_codes", issue_then_tell)
    size = services.ledger.size()
    response = client.post(
        "/v1/codes/batches",
        json={"gtin": GTIN, "batch": BATCH, "count": 3},
        headers={"Authorization": f"Bearer {officer}"},
    )
    assert response.status_code == 503, response.text
    gate.set()
    assert finished.wait(60), "the handler did not finish"
    assert services.ledger.size() == size
    assert _issued_serials(services) == 0


def test_an_append_being_committed_at_the_time_limit_is_waited_for_and_acknowledged(
    quick: tuple[TestClient[Any], Services, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sequencer is held inside the commit past the time limit: the request is not
    given up but answered, late, with its receipt."""
    client, services, officer = quick
    committing, gate, gave_up = threading.Event(), threading.Event(), threading.Event()
    append, abandon = services.ledger.append, RequestWrites.abandon

    def held_append(*args: Any, **kwargs: Any) -> Any:
        committing.set()
        assert gate.wait(60), "the test never let the commit go"
        return append(*args, **kwargs)

    def abandon_then_tell(writes: RequestWrites) -> bool:
        given_up = abandon(writes)
        assert not given_up, "a request was given up while its append was being committed"
        gave_up.set()
        return given_up

    monkeypatch.setattr(services.ledger, "append", held_append)
    monkeypatch.setattr(RequestWrites, "abandon", abandon_then_tell)
    size = services.ledger.size()
    answers: list[Any] = []
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(77)}
    writer = threading.Thread(
        target=lambda: answers.append(
            client.post("/v1/records", json=body, headers={"Authorization": f"Bearer {officer}"})
        )
    )
    writer.start()
    assert committing.wait(60) and gave_up.wait(60)  # the time limit passed mid-commit
    gate.set()
    writer.join(60)
    (answer,) = answers
    assert answer.status_code == 201, answer.text
    assert answer.json()["index"] == size and services.ledger.size() == size + 1


def test_an_append_still_queued_at_the_time_limit_is_never_written(
    quick: tuple[TestClient[Any], Services, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the sequencer is held in a first request's commit, an issuance's append
    waits in its queue past the time limit: the issuance is answered 503, its append is
    dropped and its serials removed; the first request is answered with its receipt."""
    client, services, officer = quick
    committing, gate, finished = threading.Event(), threading.Event(), threading.Event()
    append = services.ledger.append

    def held_append(*args: Any, **kwargs: Any) -> Any:
        committing.set()
        assert gate.wait(60), "the test never let the commit go"
        return append(*args, **kwargs)

    def issue_then_tell(*args: Any, **kwargs: Any) -> Any:
        try:
            return issue_codes(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(services.ledger, "append", held_append)
    monkeypatch.setattr(f"{CODES_SERVICE}.issue_codes", issue_then_tell)
    auth = {"Authorization": f"Bearer {officer}"}
    size = services.ledger.size()
    answers: list[Any] = []
    body = {"kind": "enterprise.filed", "payload": enterprise_payload(78)}
    first = threading.Thread(
        target=lambda: answers.append(client.post("/v1/records", json=body, headers=auth))
    )
    first.start()
    assert committing.wait(60)
    issued = client.post(
        "/v1/codes/batches", json={"gtin": GTIN, "batch": BATCH, "count": 3}, headers=auth
    )
    assert issued.status_code == 503, issued.text
    gate.set()
    first.join(60)
    assert finished.wait(60), "the issuance did not finish"
    (answer,) = answers
    assert answer.status_code == 201, answer.text
    assert services.ledger.size() == size + 1  # the first request's entry only
    assert _issued_serials(services) == 0


@pytest.mark.parametrize(
    ("value", "expected"), [("2.5", 2.5), ("off", None), ("OFF", None), ("30", 30.0)]
)
def test_the_time_limit_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: float | None
) -> None:
    monkeypatch.setenv("CREDTRACE_REQUEST_TIMEOUT", value)
    assert Settings.from_env().request_timeout == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CREDTRACE_REQUEST_TIMEOUT", "0"),
        ("CREDTRACE_REQUEST_TIMEOUT", "soon"),
        ("CREDTRACE_REQUEST_TIMEOUT", "inf"),
        ("CREDTRACE_MAX_BODY_BYTES", "-1"),
        ("CREDTRACE_MAX_BODY_BYTES", "1MB"),
    ],
)
def test_a_bad_limit_setting_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        Settings.from_env()
