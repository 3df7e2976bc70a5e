"""``credtrace serve --workers 2`` as a process manager runs it: it starts, answers, and on
SIGTERM finishes and exits with every worker process gone."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ORIGIN
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
