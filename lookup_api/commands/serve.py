"""``credtrace serve`` and ``credtrace demo``: the HTTP service."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookup_api.commands.output import CommandError, bounded_int
from lookup_api.logs import FORMATS, log_config

if TYPE_CHECKING:
    from lookup_api.settings import Settings

log = logging.getLogger("credtrace")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_WORKERS = 64
GRACE_SECONDS = 20  # a stopping worker finishes its requests in flight for this long
SEQUENCER_START_SECONDS = 120  # a loaded machine starts processes slowly
SEQUENCER_RESTART_SECONDS = 1.0  # after the sequencer process exited, before another
port_number = bounded_int(1, 65_535)


class PortTaken(CommandError):
    """The address to serve on is in use (or not ours to bind)."""


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind the listening socket before anything else, so a taken port fails first."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise PortTaken(
            f"cannot serve on {host}:{port}: {exc.strerror}. Choose another port with "
            f"--port {port + 1} (scripts/demo: PORT={port + 1} scripts/demo)"
        ) from exc
    return listener


def recompute_once(settings: Settings) -> None:
    """Apply the passage of time to the grades if no recompute applied today (China); only
    changes are appended. Its engine is disposed after: no database connection stays open
    in the serving process, whose workers are forked from it (a SQLite connection open
    across a fork leaves the child's locks confused: its writes then wait for a lock
    nobody holds)."""
    import logging

    from lookup_api.credit_recomputes import recompute_if_due
    from lookup_api.wiring import open_ledger

    log = logging.getLogger("credtrace.credit")
    ledger = open_ledger(settings)
    try:
        report = recompute_if_due(ledger)
        if report is None:
            log.info("the grades were recomputed today already")
        else:
            log.info("recomputed %d grades: %d changed", report.enterprises, report.changed)
    except Exception:  # the service goes on; the next day tries again
        log.exception("the daily credit recompute failed")
    finally:
        ledger.engine.dispose()


def recompute_daily(settings: Settings) -> None:
    """``recompute_once`` after each midnight in China (the one at start has run already,
    before the workers were started)."""
    import datetime as dt
    import time

    from ledger.records.kinds import CHINA

    while True:
        now = dt.datetime.now(CHINA)
        tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), CHINA)
        time.sleep((tomorrow - now).total_seconds() + 60)
        recompute_once(settings)


SERVERS = ("granian", "uvicorn")
LOG_LEVELS = ("debug", "info", "warning", "error")
APP_FACTORY = "lookup_api.app:create_app_from_env"


def cmd_serve(
    args: argparse.Namespace, settings: Settings, listener: socket.socket | None = None
) -> int:
    from lookup_api.wiring import open_ledger

    listener = listener or reserve_port(args.host, args.port)
    # Migrate and create the key once, before workers start in parallel.
    open_ledger(settings).engine.dispose()
    server = getattr(args, "server", SERVERS[0])
    logging = log_config(
        args.log_format, access=args.command == "serve", level=getattr(args, "log_level", "info")
    )
    if settings.recompute:
        import logging.config as logging_config
        import threading

        logging_config.dictConfig(logging)  # the recompute's lines, before the server's own
        # At start, before the workers: the service may have been down over a day boundary.
        recompute_once(settings)
        threading.Thread(
            target=recompute_daily, args=(settings,), name="credit-recompute", daemon=True
        ).start()
    # The workers leave their metrics for each other here (lookup_api.metrics): owner-only,
    # made for this run and removed after it.
    with tempfile.TemporaryDirectory(prefix="credtrace-metrics-") as metrics_dir:
        os.environ["CREDTRACE_METRICS_DIR"] = metrics_dir
        with one_sequencer(args):
            if server == "granian":
                run_granian(args, listener, logging)
            else:
                run_uvicorn(args, listener, logging)
    return 0


class SequencerFailed(CommandError):
    """The workers' sequencer process did not start."""


@contextmanager
def one_sequencer(args: argparse.Namespace) -> Iterator[None]:
    """With several workers, one sequencer process for all of them, started before them
    and stopped after them (lookup_api.shared_sequencer: why). Its socket is in a folder
    of this run that only its user can enter."""
    if args.workers < 2:
        yield
        return
    from lookup_api.shared_sequencer import SOCKET_ENV

    with tempfile.TemporaryDirectory(prefix="credtrace-sequencer-") as folder:
        path = Path(folder) / "sequencer.sock"
        command = [
            sys.executable,
            "-m",
            "lookup_api.shared_sequencer",
            str(path),
            args.log_format,
            getattr(args, "log_level", "info"),
        ]
        environment = {name: value for name, value in os.environ.items() if name != SOCKET_ENV}
        sequencer = SequencerProcess(command, environment, path)
        try:
            os.environ[SOCKET_ENV] = str(path)
            yield
        finally:
            os.environ.pop(SOCKET_ENV, None)
            sequencer.stop()


class SequencerProcess:
    """The sequencer process of a run, started again if it exits while the workers serve
    (they append themselves meanwhile). It exits when its standard input, a pipe from
    here, is closed once the workers stopped, or when this process dies."""

    def __init__(self, command: list[str], environment: dict[str, str], path: Path) -> None:
        self.command = command
        self.environment = environment
        self.path = path
        self._lock = threading.Lock()
        self._stopping = False
        self.process = self._start()
        threading.Thread(target=self._restart, name="sequencer-watch", daemon=True).start()

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed module
            self.command, stdin=subprocess.PIPE, env=self.environment
        )
        _wait_until_listening(process, self.path)
        return process

    def _restart(self) -> None:
        while True:
            code = self.process.wait()
            time.sleep(SEQUENCER_RESTART_SECONDS)  # not in a tight loop if it cannot start
            with self._lock:
                if self._stopping:
                    return
                log.error("the sequencer process exited with %s: starting another", code)
                try:
                    self.process = self._start()
                except SequencerFailed:
                    log.exception("the sequencer did not start again: the workers append alone")
                    return

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            process = self.process
        assert process.stdin is not None
        process.stdin.close()  # it commits what it took and exits
        try:
            process.wait(GRACE_SECONDS + 10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(process: subprocess.Popen[bytes], path: Path) -> None:
    deadline = time.monotonic() + SEQUENCER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SequencerFailed(f"the sequencer process exited with {process.returncode}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                time.sleep(0.05)
                continue
        return
    process.kill()
    process.wait()
    raise SequencerFailed(
        f"the sequencer process did not listen within {SEQUENCER_START_SECONDS} s"
    )


def run_uvicorn(args: argparse.Namespace, listener: socket.socket, logging: dict[str, Any]) -> None:
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        fd=listener.fileno(),
        workers=args.workers,
        log_config=logging,
        access_log=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


def run_granian(args: argparse.Namespace, listener: socket.socket, logging: dict[str, Any]) -> None:
    """Granian binds the address itself (its workers share the socket it makes), so the
    port reserved to fail early is handed back just before."""
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    host, port = listener.getsockname()[:2]
    listener.close()
    Server(
        APP_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=args.workers,
        loop=Loops.auto,
        log_level=LogLevels(getattr(args, "log_level", "info")),
        log_dictconfig=logging,
        log_access=False,
        workers_kill_timeout=GRACE_SECONDS,
    ).serve()


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.bulk.demo import (
        EXAMPLE_BATCH,
        EXAMPLE_GTIN,
        EXAMPLE_USCC,
        demo_serial,
        issue_demo_codes,
        seed_demo,
    )
    from lookup_api.wiring import open_ledger
    from qr.signing import code_key_name, load_or_create_code_keys

    listener = reserve_port(args.host, args.port)
    base = f"http://{args.host}:{args.port}"
    if not os.environ.get("CREDTRACE_PUBLIC_URL"):
        # The demo's codes and links name the address it serves on (the workers read it
        # from the environment).
        os.environ["CREDTRACE_PUBLIC_URL"] = base
        settings = dataclasses.replace(settings, public_url=base)
    ledger = open_ledger(settings)
    seeded = seed_demo(ledger)
    keys = load_or_create_code_keys(settings.code_key_file, code_key_name(settings.ledger.origin))
    issue_demo_codes(ledger, keys.key_id)
    serial = demo_serial(ledger)
    print(f"demo log: {ledger.size()} entries ({seeded} added now)")
    print("try:")
    for what, path in (
        ("the signed checkpoint", "/checkpoint"),
        ("the log's verifier key", "/v1/ledger/key"),
        ("an entry", "/v1/ledger/entries/1"),
        ("its inclusion proof", "/v1/ledger/proof/inclusion?index=1"),
        ("its offline proof (C2SP tlog-proof)", "/v1/ledger/entries/1/proof"),
        ("a tile", "/tile/0/000"),
        ("an enterprise", f"/v1/enterprises/{EXAMPLE_USCC}"),
        ("a product", f"/v1/products/{EXAMPLE_GTIN}"),
        ("a batch", f"/v1/batches/{EXAMPLE_GTIN}/{EXAMPLE_BATCH}"),
        (
            "a product's code (the consumer page)",
            f"/01/{EXAMPLE_GTIN}/10/{EXAMPLE_BATCH}/21/{serial}",
        ),
        ("the officers' pages", "/officer/login"),
        ("the API", "/schema"),
    ):
        print(f"  {what:<38} {base}{path}")
    print(f"verify it yourself:  python -m ledger verify --url {base}")
    print("officers sign in with a key from:  credtrace keys create --role officer")
    ledger.engine.dispose()
    args.workers = 1
    return cmd_serve(args, settings, listener)


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=bounded_int(1, MAX_WORKERS), default=1)
    serve.add_argument(
        "--server",
        choices=SERVERS,
        default=SERVERS[0],
        help="the HTTP server (default: granian, measured the faster; scripts/bench api)",
    )
    serve.add_argument(
        "--log-format", choices=FORMATS, default="json", help="log lines (default: json)"
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="(default: info)")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="seed a small demo data set, print URLs to try, serve")
    demo.add_argument("--host", default=DEFAULT_HOST)
    demo.add_argument("--port", type=port_number, default=DEFAULT_PORT)
    demo.add_argument("--log-format", choices=FORMATS, default="text")
    demo.set_defaults(func=cmd_demo)
