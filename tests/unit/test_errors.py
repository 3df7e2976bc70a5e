"""The error hierarchy, its exit codes, and the verifier's exit status on each kind of failure."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ledger import errors
from ledger.audit.remote import RemoteError, ServerUnavailable
from ledger.audit.verify import VerificationError
from ledger.errors import (
    EntryRejected,
    IntegrityError,
    InvalidInput,
    LedgerCorruptError,
    LedgerError,
    Misconfigured,
    RetryBatch,
    Unavailable,
    exit_code,
)
from ledger.records.ids import IdentifierError
from ledger.records.kinds import RecordError, UnknownKind
from ledger.store.export import ExportFileError
from ledger.store.identity import IdentityMismatch
from ledger.store.keys import KeyFileError
from ledger.tlog.checkpoint import Checkpoint, CheckpointError
from ledger.tlog.envelope import SALT_SIZE, EnvelopeError, encode_chain
from ledger.tlog.jcs import CanonicalizationError
from ledger.tlog.merkle import ProofError, root_from_leaf_hashes
from ledger.tlog.note import NoteError, Signer
from ledger.tlog.tiles import TilePathError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("error", "base", "code"),
    [
        (InvalidInput, ValueError, 2),
        (IntegrityError, LedgerError, 1),
        (Unavailable, LedgerError, 3),
        (Misconfigured, LedgerError, 2),
        (LedgerCorruptError, IntegrityError, 1),
        (VerificationError, IntegrityError, 1),
        (RemoteError, VerificationError, 1),
        (ServerUnavailable, Unavailable, 3),
        (EntryRejected, InvalidInput, 2),
        (EnvelopeError, InvalidInput, 2),
        (CheckpointError, InvalidInput, 2),
        (NoteError, InvalidInput, 2),
        (ProofError, InvalidInput, 2),
        (TilePathError, InvalidInput, 2),
        (CanonicalizationError, InvalidInput, 2),
        (RecordError, InvalidInput, 2),
        (UnknownKind, RecordError, 2),
        (IdentifierError, InvalidInput, 2),
        (ExportFileError, InvalidInput, 2),
        (IdentityMismatch, Misconfigured, 2),
        (KeyFileError, Misconfigured, 2),
        (RetryBatch, LedgerError, 2),
    ],
)
def test_each_error_has_its_place_and_exit_code(
    error: type[LedgerError], base: type[Exception], code: int
) -> None:
    assert issubclass(error, base) and issubclass(error, LedgerError)
    assert error.exit_code == code


def test_the_four_kinds_are_distinct() -> None:
    kinds = (InvalidInput, IntegrityError, Unavailable, Misconfigured)
    for kind in kinds:
        assert [other for other in kinds if issubclass(kind, other)] == [kind]
    assert not issubclass(IntegrityError, ValueError)  # a bad log is not bad input


def test_exit_code_by_type() -> None:
    assert exit_code(IntegrityError("x")) == errors.EXIT_INTEGRITY == 1
    assert exit_code(InvalidInput("x")) == errors.EXIT_INVALID == 2
    assert exit_code(Misconfigured("x")) == 2
    assert exit_code(Unavailable("x")) == errors.EXIT_UNAVAILABLE == 3
    assert exit_code(VerificationError("chain broken", 7)) == 1
    assert exit_code(ConnectionRefusedError()) == 3
    assert exit_code(TimeoutError()) == 3
    assert exit_code(FileNotFoundError()) == 2
    assert exit_code(ValueError()) == 2


def test_errors_module_imports_nothing_from_the_project() -> None:
    source = (ROOT / "ledger" / "errors.py").read_text(encoding="utf-8")
    assert "import ledger" not in source and "from ledger" not in source


# --- python -m ledger verify --------------------------------------------------------


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", "verify", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_unreachable_server_exits_3_with_one_line() -> None:
    result = _verify("--url", f"http://127.0.0.1:{_closed_port()}")
    assert result.returncode == 3
    assert _one_line_failure(result).startswith("UNAVAILABLE: ")


Routes = dict[str, tuple[int, bytes]]


@pytest.fixture
def fake_server() -> Iterator[tuple[str, Routes]]:
    """An HTTP server answering each path (query ignored) with a fixed status and body."""
    routes: Routes = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path.split("?")[0], (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


class _Item:
    def __init__(self, n: int) -> None:
        self.kind = "test.event"
        self.subject_json = b'"s"'
        self.actor_json = b'"a"'
        self.time = "2026-11-22T10:00:00.000Z"
        self.payload = json.dumps({"n": n}, separators=(",", ":")).encode()


def _serve_log(routes: Routes, signer: Signer, *, tamper: bool = False) -> None:
    """A two-entry log; with ``tamper`` the second payload is not the one committed to."""
    items = [_Item(1), _Item(2)]
    salts = bytes(range(SALT_SIZE * len(items)))
    envelopes, leaf_hashes = encode_chain(items, 0, bytes(32), salts, "unused")
    note = Checkpoint(signer.name, 2, root_from_leaf_hashes(leaf_hashes)).sign(signer)
    entries = [
        {
            "index": i,
            "leaf_input": base64.b64encode(envelope).decode(),
            "salt": base64.b64encode(salts[SALT_SIZE * i : SALT_SIZE * (i + 1)]).decode(),
            "payload": {"n": 3 if tamper and i == 1 else i + 1},
            "redacted": False,
        }
        for i, envelope in enumerate(envelopes)
    ]
    routes["/v1/ledger/key"] = (200, str(signer.verifier).encode() + b"\n")
    routes["/checkpoint"] = (200, note.encode())
    routes["/v1/ledger/entries"] = (200, json.dumps({"entries": entries}).encode())
    routes["/tile/0/000.p/2"] = (200, b"".join(leaf_hashes))


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate("example.com/errors")


def test_a_fake_log_verifies(fake_server: tuple[str, Routes], signer: Signer) -> None:
    url, routes = fake_server
    _serve_log(routes, signer)
    result = _verify("--url", url, "--spot-checks", "0")
    assert result.returncode == 0, result.stderr
    assert "OK: 2 entries" in result.stdout


def test_a_tampered_log_exits_1(fake_server: tuple[str, Routes], signer: Signer) -> None:
    url, routes = fake_server
    _serve_log(routes, signer, tamper=True)
    result = _verify("--url", url, "--spot-checks", "0")
    assert result.returncode == 1
    assert "entry 1: payload does not match its commitment" in _one_line_failure(result)


def test_a_non_json_answer_exits_3(fake_server: tuple[str, Routes], signer: Signer) -> None:
    url, routes = fake_server
    _serve_log(routes, signer)
    routes["/v1/ledger/entries"] = (200, b"<html>maintenance</html>")
    result = _verify("--url", url, "--json")
    assert result.returncode == 3
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and "not JSON" in answer["error"]
    assert "Traceback" not in result.stderr


def test_an_error_status_exits_3(fake_server: tuple[str, Routes], signer: Signer) -> None:
    url, routes = fake_server
    _serve_log(routes, signer)
    routes["/checkpoint"] = (503, b"try later")
    result = _verify("--url", url)
    assert result.returncode == 3
    assert "answered 503" in _one_line_failure(result)


def test_bad_usage_exits_2(fake_server: tuple[str, Routes], signer: Signer) -> None:
    assert _verify().returncode == 2  # no --url
    url, routes = fake_server
    _serve_log(routes, signer)
    result = _verify("--url", url, "--key", "not a key")
    assert result.returncode == 2
    assert "--key" in _one_line_failure(result)


def test_a_wrong_trusted_key_exits_1(fake_server: tuple[str, Routes], signer: Signer) -> None:
    url, routes = fake_server
    _serve_log(routes, signer)
    other = Signer.generate(signer.name)
    result = _verify("--url", url, "--key", str(other.verifier))
    assert result.returncode == 1
    assert "key" in _one_line_failure(result)


# --- the credtrace command ----------------------------------------------------------


def test_credtrace_exits_3_when_the_database_is_unreachable(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{_closed_port()}/none",
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
    }
    env.pop("CREDTRACE_REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "lookup_api.cli", "ledger", "checkpoint"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("credtrace: unavailable: ")


def test_credtrace_exits_2_for_another_logs_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
    }
    env.pop("CREDTRACE_REDIS_URL", None)

    def checkpoint(origin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lookup_api.cli", "ledger", "checkpoint"],
            cwd=tmp_path,
            env={
                **env,
                "CREDTRACE_ORIGIN": origin,
                "CREDTRACE_KEY_FILE": str(tmp_path / f"{origin.rsplit('/', maxsplit=1)[-1]}.key"),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )

    checkpoint("example.com/one")
    result = checkpoint("example.com/two")
    assert result.returncode == 2
    assert "this database belongs to a log with origin" in result.stderr
    assert "Traceback" not in result.stderr
