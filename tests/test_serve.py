"""``credtrace serve --workers 2`` as a process manager runs it: it starts, answers, and on
SIGTERM finishes and exits with every worker process gone."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.store.config import LedgerConfig
from ledger.tlog.checkpoint import open_checkpoint
from ledger.tlog.merkle import verify_inclusion
from ledger.tlog.note import Verifier
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload
from tests.served import served


def _descendants(pid: int) -> set[int]:
    """Every live process under ``pid``, read from /proc (children of children too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child that its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_sigterm_stops_the_server_and_every_worker(
    server: str, db_url: str, tmp_path: Path
) -> None:
    env = {
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_RECOMPUTE": "off",
    }
    with served(env, options=("--server", server, "--log-format", "text")) as running:
        process, lines = running.process, running.lines
        health = httpx.get(f"{running.base}/health", timeout=30)
        assert health.status_code == 200, health.text
        workers = _descendants(process.pid)
        assert len(workers) >= 2, workers  # the two workers (and any helper process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, "".join(lines)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _running(pid)], "".join(lines)
        assert running.watcher is not None
        running.watcher.join(10)
        assert "Traceback" not in "".join(lines), "".join(lines)


def _sequencers(pid: int) -> list[int]:
    """The sequencer processes under ``pid`` (lookup_api.shared_sequencer)."""
    found = []
    for child in _descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"lookup_api.shared_sequencer" in command and _running(child):
            found.append(child)
    return found


def _officer(db_url: str, tmp_path: Path) -> str:
    from lookup_api.auth import create_key
    from lookup_api.settings import Settings
    from lookup_api.wiring import Services

    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
    )
    services = Services.open(settings)
    try:
        return create_key(services.engine, "officer")[1]
    finally:
        services.close()


def _file(base: str, token: str, numbers: range) -> list[dict[str, Any]]:
    """Enterprise filings from 4 clients at once, each on new connections (so that both
    workers take some); the receipts."""
    receipts: list[dict[str, Any]] = []

    def write(part: range) -> None:
        for n in part:
            with httpx.Client(base_url=base, timeout=60) as fresh:
                answer = fresh.post(
                    "/v1/records",
                    json={"kind": "enterprise.filed", "payload": enterprise_payload(n)},
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert answer.status_code == 201, answer.text
            receipts.append(answer.json())

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, [numbers[i::4] for i in range(4)]))
    return receipts


def _verified(base: str, receipts: list[dict[str, Any]]) -> None:
    """Every receipt's entry is in the log, under a checkpoint signed by the log's key."""
    verifier = Verifier.parse(httpx.get(f"{base}/v1/ledger/key", timeout=30).text)
    for receipt in receipts:
        checkpoint = open_checkpoint(receipt["checkpoint"], verifier, ORIGIN)
        stored = httpx.get(f"{base}/v1/ledger/entries/{receipt['index']}", timeout=30).json()
        assert stored["leaf_hash"] == receipt["leaf_hash"]
        verify_inclusion(
            receipt["index"],
            checkpoint.size,
            base64.b64decode(receipt["leaf_hash"]),
            [base64.b64decode(h) for h in receipt["inclusion_proof"]["audit_path"]],
            checkpoint.root,
        )


def _batched_entries(base: str) -> float:
    """Caller entries in the batches of every process, as /metrics sums them."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    found = re.search(r"^credtrace_append_batch_entries_sum (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _committed_by(pid: int) -> float:
    """Caller entries in the batches of process ``pid``, from the file it leaves its
    metrics in (the run's folder is in its environment)."""
    environment = dict(
        item.split(b"=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if b"=" in item
    )
    folder = Path(environment[b"CREDTRACE_METRICS_DIR"].decode())
    try:
        counts = json.loads((folder / f"{pid}.json").read_text())
    except (OSError, ValueError):  # not written yet, or mid-replace
        return 0.0
    return float(sum(series[-1] for _, series in counts["batches"]))


def _own_batches(base: str) -> float:
    """Batches the answering worker committed itself."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    found = re.search(r"^credtrace_append_batches (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_every_worker_appends_through_one_sequencer_which_is_started_again_when_killed(
    db_url: str, tmp_path: Path
) -> None:
    token = _officer(db_url, tmp_path)
    env = {
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "CREDTRACE_CODE_KEY_FILE": str(tmp_path / "codes.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_RECOMPUTE": "off",
        "CREDTRACE_RATE_LIMITS": "off",
        "CREDTRACE_REDIS_URL": None,
    }
    with served(env, options=("--log-format", "text")) as running:
        base = running.base
        [sequencer] = _sequencers(running.process.pid)
        receipts = _file(base, token, range(1, 41))
        _verified(base, receipts)
        # The sequencer process committed all 40 (its counts reach /metrics within a
        # second or so); no worker committed a batch itself, whichever answers.
        deadline = time.monotonic() + 60
        while _batched_entries(base) < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _batched_entries(base) == 40
        assert _committed_by(sequencer) == 40
        assert {_own_batches(base) for _ in range(10)} == {0.0}

        os.kill(sequencer, signal.SIGKILL)
        # The workers append themselves: no acknowledged entry lost, the log one chain.
        later = _file(base, token, range(41, 61))
        _verified(base, later)
        # The server starts another sequencer, which the workers use again.
        deadline = time.monotonic() + 120
        while not _sequencers(running.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        [again] = _sequencers(running.process.pid)
        assert again != sequencer
        time.sleep(2)  # the workers try the socket again after a second
        last = _file(base, token, range(61, 81))
        _verified(base, last)
        deadline = time.monotonic() + 60
        while _committed_by(again) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _committed_by(again) == 20  # all of them: no worker appended itself
        indices = [r["index"] for r in receipts + later + last]
        assert len(set(indices)) == 80
        assert "starting another" in running.output
        workers = _descendants(running.process.pid)
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(60) == 0, running.output
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _running(pid)], running.output
    assert "Traceback" not in running.output, running.output


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_server_leaves_no_sequencer_behind(db_url: str, tmp_path: Path) -> None:
    env = {
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_RECOMPUTE": "off",
        "CREDTRACE_REDIS_URL": None,
    }
    with served(env, options=("--log-format", "text")) as running:
        [sequencer] = _sequencers(running.process.pid)
        workers = _descendants(running.process.pid) - {sequencer}
        running.process.kill()
        running.process.wait(60)
        deadline = time.monotonic() + 30
        while _running(sequencer) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(sequencer)
        for pid in workers:  # the server's own workers; granian's to reap, ours to end here
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
