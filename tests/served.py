"""``credtrace serve`` as a real process for the tests that need several workers: started on
a free port, waited for until every worker says it is ready, stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lookup_api.app import WORKER_READY

# A graceful stop may take the workers' whole grace period (lookup_api.commands.serve).
STOP_SECONDS = 60
READY_SECONDS = 120  # a loaded machine starts workers slowly


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)  # everything it printed so far
    watcher: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_SECONDS)


@contextmanager
def served(
    env: Mapping[str, str | None], *, workers: int = 2, options: tuple[str, ...] = ()
) -> Iterator[Served]:
    """``credtrace serve --workers N`` with ``env`` over this process's environment (a None
    value removes a variable), once all N workers have said they are ready. It runs in a
    folder of its own, so that a setting left to its default (a key file under ``var/``)
    is made there, never in the checkout."""
    with (
        tempfile.TemporaryDirectory(prefix="served-") as folder,
        _served(env, workers, options, Path(folder)) as server,
    ):
        yield server


@contextmanager
def _served(
    env: Mapping[str, str | None], workers: int, options: tuple[str, ...], folder: Path
) -> Iterator[Served]:
    environment = {**os.environ}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    port = free_port()
    credtrace = Path(sys.executable).with_name("credtrace")
    command = [str(credtrace), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers), *options],
        env=environment,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Served(process, port)
    ready = threading.Event()

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line)
            if sum(WORKER_READY in seen for seen in server.lines) == workers:
                ready.set()

    server.watcher = threading.Thread(target=watch, daemon=True)
    server.watcher.start()
    try:
        assert ready.wait(READY_SECONDS), server.output  # every worker started
        yield server
    finally:
        _stop(process)
