"""SIGKILL during bulk appends loses no acknowledged entry; concurrent writers make one log."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.store.dbverify import verify_database
from ledger.store.engine import create_db_engine, migrate
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN

ROOT = Path(__file__).resolve().parents[1]


def _run_worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.workers", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check(url: str, signer: Signer) -> Ledger:
    engine = create_db_engine(url)
    migrate(engine)
    ledger = Ledger(engine, signer, ORIGIN)
    verify_database(engine, signer.verifier, ORIGIN)
    return ledger


def _seed() -> int:
    """CREDTRACE_TEST_SEED=N reproduces a run; otherwise a fresh seed, printed."""
    seed = int(os.environ.get("CREDTRACE_TEST_SEED") or int.from_bytes(os.urandom(4), "big"))
    print(f"CREDTRACE_TEST_SEED={seed}")
    return seed


def _await_acks(proc: subprocess.Popen[str], wanted: int) -> list[int]:
    """Read the worker's output until it has acknowledged ``wanted`` more batches."""
    assert proc.stdout is not None
    acks: list[int] = []
    while len(acks) < wanted:
        line = proc.stdout.readline()
        if not line:  # the worker ended before it acknowledged enough
            proc.wait()
            raise AssertionError(f"worker exited {proc.returncode} after {acks}")
        if line.startswith("ACK "):
            acks.append(int(line.split()[1]))
    return acks


@pytest.mark.slow
def test_sigkill_during_bulk_append_loses_no_acknowledged_entry(
    db_url: str, signer: Signer
) -> None:
    seed = _seed()
    rng = random.Random(seed)
    acked = -1
    key = signer.serialize()
    for round_no in range(5):
        batch = rng.choice([200, 1000, 5000])
        proc = _run_worker("bulk", db_url, key, "2000000", str(batch))
        # Kill once the worker has acknowledged 1 to 3 batches, at a random point of the
        # batch it is writing then (the jitter only moves the kill; it synchronises nothing).
        acks = _await_acks(proc, rng.randint(1, 3))
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        acks += [int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK ")]
        assert proc.returncode == -signal.SIGKILL, err
        acked = max(acked, *acks)
        ledger = _check(db_url, signer)  # the whole log verifies after the crash
        size = ledger.size()
        where = f"seed {seed}, round {round_no}, batch {batch}"
        assert size > acked, f"acknowledged entry {acked} lost; log has {size} ({where})"
        # Entries are contiguous and each payload says its own index.
        for probe in {0, acked, size - 1}:
            stored = ledger.entry(probe)
            assert stored is not None, f"entry {probe} missing ({where})"
            assert json.loads(stored.payload or b"{}")["n"] == probe, where
        ledger.engine.dispose()
    assert acked > 0


@pytest.mark.slow
def test_eight_writers_make_one_contiguous_log(db_url: str, signer: Signer) -> None:
    key = signer.serialize()
    # 32 threads in 8 processes, all appending at once: 150 appends each are enough for
    # their group commits to interleave (the appends start together, below).
    writers, per_writer = 8, 150
    procs = [
        _run_worker("writer", db_url, key, str(w), str(per_writer), "4") for w in range(writers)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdin is not None
        ready = proc.stdout.readline()
        assert ready == "READY\n", ready + (proc.stderr.read() if proc.stderr else "")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
        assert out.startswith(f"DONE {per_writer}")
    ledger = _check(db_url, signer)
    assert ledger.size() == writers * per_writer
    seen = set()
    for stored in ledger.entries(0, writers * per_writer):
        body = json.loads(stored.payload or b"{}")
        pair = (body["writer"], body["seq"])
        assert pair not in seen, f"duplicate {pair}"
        seen.add(pair)
    assert seen == {(w, s) for w in range(writers) for s in range(per_writer)}
    ledger.engine.dispose()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
@pytest.mark.parametrize(
    ("args", "method"),
    [((), "fork"), (("--with-thread",), "spawn")],
    ids=["forked-worker", "spawned-worker"],
)
def test_a_killed_bulk_job_leaves_no_worker_behind(args: tuple[str, ...], method: str) -> None:
    proc = _run_worker("stalled-pipeline", *args)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("WORKER "), (line, proc.stderr.read() if proc.stderr else "")
    worker, started = int(line.split()[1]), line.split()[2]
    assert started == method
    helpers = _children(proc.pid)  # the worker and multiprocessing's resource tracker
    assert worker in helpers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60  # an upper bound on a loaded machine, not a delay
    while any(_running(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if _running(pid)]
