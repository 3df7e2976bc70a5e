"""The service over HTTP: wrk against `credtrace serve` on PostgreSQL + Redis; medians of runs.

Seeds (once; kept between runs, ``--fresh`` seeds again) a PostgreSQL database with
``--enterprises`` filed enterprises, each with a product and a declared batch (an open
recall on every tenth), and ``--codes`` traceability codes over batches of 100,000; then
starts ``credtrace serve --workers N`` with Redis and runs wrk (a separate process, one
request in flight per connection) for each mix, each run of every mix beside a run of
the static route (run just before it), so that the ratio of the two is measured under
the same load:

- static: ``GET /v1/ledger/key`` (an answer from memory, through the same middleware,
  rate limiter and guard as every public route; ``/health`` reads the database);
- resolve: ``GET /01/{gtin}/10/{batch}/21/{serial}`` as JSON, random issued codes;
- verify: ``POST /v1/verify/filings``, 100 random items (platform key);
- feed: ``GET /v1/feed?after=…&limit=100`` at random cursors;
- records: ``POST /v1/records`` (a complaint.received) from 32 clients, each waiting
  for its proof before its next record (officer key).

``--server uvicorn,granian --workers 1,2`` measures each server and worker count; all of
them run at once and their runs are interleaved, so that the machine's changing load
falls on each alike.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_platform import gtin_of, seed  # the platform bench's data set, reused

from tests.factories import uscc

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "scripts" / "bench_api.lua"
STATE = ROOT / "var" / "bench-api"
ORIGIN = "bench.credtrace.local/ledger"
CODES_PER_BATCH = 100_000
SAMPLED_PER_BATCH = 200  # serials kept per batch for the resolve mix
REDIS_PREFIX = "credtrace-bench:"
UNLIMITED = "1000000000/1"  # the limiter runs (its Redis round trip is measured), never refuses

MIXES = ("static", "resolve", "verify", "feed", "records")
LABELS = {
    "static": "GET /v1/ledger/key (static)",
    "resolve": "GET /01/… resolve as JSON",
    "verify": "POST /v1/verify/filings, 100 items",
    "feed": "GET /v1/feed, pages of 100",
    "records": "POST /v1/records, 32 clients",
}
TARGETS = {  # (requests/s at least, p99 ms at most or None)
    "resolve": (5_000, 20.0),
    "verify": (300, None),
    "feed": (2_000, None),
    "records": (2_000, 50.0),
}


@dataclass(frozen=True)
class Profile:
    database: str
    enterprises: int
    codes: int

    @property
    def folder(self) -> Path:
        return STATE / self.database


FULL = Profile("credtrace_bench", 100_000, 10_000_000)
SMALL = Profile("credtrace_bench_small", 10_000, 1_000_000)


def _database_url(base: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _admin(base: str) -> Any:
    from sqlalchemy import create_engine

    from ledger.store.engine import normalise_url

    return create_engine(
        normalise_url(_database_url(base, "postgres")), isolation_level="AUTOCOMMIT"
    )


def _settings(profile: Profile, url: str) -> Any:
    from ledger.store.config import LedgerConfig
    from lookup_api.ratelimit import RateLimits
    from lookup_api.settings import Settings

    return Settings(
        ledger=LedgerConfig(url, profile.folder / "ledger.key", ORIGIN),
        rate_limits=RateLimits(enabled=False),
        code_key_file=profile.folder / "codes.key",
    )


def prepare(profile: Profile, base: str, fresh: bool) -> dict[str, Any]:
    """The seeded database and the wrk data files; seeds only when needed."""
    from sqlalchemy import text

    manifest_file = profile.folder / "manifest.json"
    url = _database_url(base, profile.database)
    admin = _admin(base)
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": profile.database}
        ).first()
    manifest: dict[str, Any] | None = (
        json.loads(manifest_file.read_text()) if manifest_file.exists() else None
    )
    if exists and manifest and not fresh and _still_seeded(profile, url, manifest):
        print(
            f"seeded database {profile.database} kept: {manifest['enterprises']:,} "
            f"enterprises, {manifest['codes']:,} codes (--fresh seeds it again)"
        )
        admin.dispose()
        return manifest
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{profile.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{profile.database}"'))
    admin.dispose()
    shutil.rmtree(profile.folder, ignore_errors=True)
    profile.folder.mkdir(parents=True, mode=0o700)
    manifest = _seed(profile, url)
    manifest_file.write_text(json.dumps(manifest))
    return manifest


def _still_seeded(profile: Profile, url: str, manifest: dict[str, Any]) -> bool:
    from ledger.store.engine import create_db_engine

    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            size = conn.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar_one()
    except Exception:
        return False
    finally:
        engine.dispose()
    return (
        manifest.get("enterprises") == profile.enterprises
        and manifest.get("codes") == profile.codes
        and size >= manifest["seeded_size"]
        and (profile.folder / "ledger.key").exists()
    )


def _seed(profile: Profile, url: str) -> dict[str, Any]:
    from tqdm import tqdm

    from lookup_api.wiring import Services
    from qr.issuance import issue_codes, ledger_appender

    began = time.perf_counter()
    services = Services.open(_settings(profile, url))
    try:
        with tqdm(total=profile.enterprises, unit=" enterprises", desc="enterprises") as bar:
            seed(services, profile.enterprises, progress=bar.update)
        rng = random.Random(11)
        paths: list[str] = []
        batches = -(-profile.codes // CODES_PER_BATCH)
        with tqdm(total=profile.codes, unit=" codes", unit_scale=True, desc="codes") as bar:
            for n in range(batches):
                gtin = gtin_of(n)
                issued = issue_codes(
                    services.engine,
                    ledger_appender(services.ledger),
                    gtin=gtin,
                    batch="L1",
                    count=min(CODES_PER_BATCH, profile.codes - n * CODES_PER_BATCH),
                    key_id="0123abcd",
                    actor="operator:bench",
                    on_stored=bar.update,
                )
                paths += [
                    f"/01/{gtin}/10/L1/21/{serial}"
                    for serial in rng.sample(issued.serials, SAMPLED_PER_BATCH)
                ]
        with services.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        size = services.ledger.size()
    finally:
        services.close()
    (profile.folder / "resolve.txt").write_text("\n".join(paths) + "\n")
    print(f"seeded in {time.perf_counter() - began:,.0f} s: {size:,} entries")
    return {
        "enterprises": profile.enterprises,
        "codes": profile.codes,
        "seeded_size": size,
    }


def data_files(profile: Profile, manifest: dict[str, Any]) -> dict[str, Path]:
    """What wrk reads: paths, bodies and enterprises (made again each run: cheap)."""
    folder = profile.folder
    rng = random.Random(7)
    enterprises = profile.enterprises
    size = manifest["seeded_size"]
    files = {
        "resolve": folder / "resolve.txt",
        "static": folder / "static.txt",
        "feed": folder / "feed.txt",
        "verify": folder / "verify.txt",
        "records": folder / "usccs.txt",
    }
    files["static"].write_text("/v1/ledger/key\n")
    files["feed"].write_text(
        "".join(f"/v1/feed?after={rng.randrange(size - 100)}&limit=100\n" for _ in range(1000))
    )
    bodies = []
    for _ in range(200):
        items = [
            {"uscc": uscc(n), "gtin": gtin_of(n), "batch": "L1"}
            for n in rng.sample(range(enterprises), 100)
        ]
        bodies.append(json.dumps({"items": items}, separators=(",", ":")))
    files["verify"].write_text("\n".join(bodies) + "\n")
    files["records"].write_text(
        "".join(f"{uscc(n)}\n" for n in rng.sample(range(enterprises), 1000))
    )
    return files


def _secret_file(path: Path, content: str) -> Path:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(content + "\n")
    return path


def make_tokens(profile: Profile, url: str) -> dict[str, Path]:
    from ledger.store.engine import create_db_engine
    from lookup_api.auth import create_key, migrate

    engine = create_db_engine(url)
    try:
        migrate(engine)
        tokens = {
            role: _secret_file(
                profile.folder / f"{role}.token", create_key(engine, role, label="bench")[1]
            )
            for role in ("platform", "officer")
        }
    finally:
        engine.dispose()
    return tokens


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(profile: Profile, url: str, redis_url: str, config: Config) -> Iterator[str]:
    """`credtrace serve` in its own process group, logging warnings only; stopped (the
    whole group, SIGTERM then SIGKILL) however the bench ends, Ctrl-C included."""
    port = _free_port()
    env = {
        **os.environ,
        # Another source tree's code, with this checkout's virtualenv (as bench_compare).
        **({"PYTHONPATH": str(config.tree)} if config.tree != ROOT else {}),
        "CREDTRACE_DATABASE_URL": url,
        "CREDTRACE_REDIS_URL": redis_url,
        "CREDTRACE_REDIS_PREFIX": REDIS_PREFIX,
        "CREDTRACE_KEY_FILE": str(profile.folder / "ledger.key"),
        "CREDTRACE_CODE_KEY_FILE": str(profile.folder / "codes.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CREDTRACE_RATE_PUBLIC": UNLIMITED,
        "CREDTRACE_RATE_KEY": UNLIMITED,
        "CREDTRACE_RECOMPUTE": "off",  # a start-up regrade of every enterprise is not measured
    }
    command = [
        str(ROOT / ".venv" / "bin" / "credtrace"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(config.workers),
        "--server",
        config.server,
        "--log-format",
        "text",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base, process)
        yield base
    finally:
        stop_group(process)


def _wait_for_health(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer /health within 120 s")


def stop_group(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM the server's process group, wait, then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        print("the server did not stop within its grace period: killed", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass(frozen=True)
class Config:
    server: str
    workers: int
    tree: Path = ROOT  # the source tree served

    @property
    def label(self) -> str:
        code = "" if self.tree == ROOT else f" [{self.tree}]"
        return f"{self.server}, {self.workers} worker{'s' if self.workers > 1 else ''}{code}"


@dataclass(frozen=True)
class Measure:
    rate: float
    p50: float
    p99: float


def wrk(
    base: str, mix: str, files: dict[str, Path], tokens: dict[str, Path], options: Any
) -> Measure:
    connections = options.writers if mix == "records" else options.connections
    arguments = {
        "static": ["get", files["static"]],
        "resolve": ["get", files["resolve"]],
        "feed": ["get", files["feed"]],
        "verify": ["verify", files["verify"], tokens["platform"]],
        "records": ["records", files["records"], tokens["officer"], uuid.uuid4().hex[:8]],
    }[mix]
    command = [
        "wrk",
        f"-t{min(options.threads, connections)}",
        f"-c{connections}",
        f"-d{options.seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        base,
        "--",
        *map(str, arguments),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["bad_status"] or report["socket_errors"]:
        raise SystemExit(
            f"{mix}: {report['bad_status']} answers not 2xx/3xx, "
            f"{report['socket_errors']} socket errors\n{done.stdout}"
        )
    return Measure(
        report["requests"] / report["seconds"], report["p50_us"] / 1000, report["p99_us"] / 1000
    )


def _ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    raise SystemExit(
        "scripts/bench api needs wrk, the HTTP load generator: apt-get install wrk "
        "(Debian/Ubuntu), brew install wrk (macOS)"
    )


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(config: Config, runs: dict[str, list[Measure]]) -> dict[str, Measure]:
    medians = {
        mix: Measure(
            _median([m.rate for m in measures]),
            _median([m.p50 for m in measures]),
            _median([m.p99 for m in measures]),
        )
        for mix, measures in runs.items()
    }
    statics = runs.get("static", [])
    print(f"{config.label}:")
    for mix, median in medians.items():
        line = (
            f"  {LABELS[mix]:<38} {median.rate:>8,.0f} requests/s  "
            f"p50 {median.p50:6.2f} ms  p99 {median.p99:6.2f} ms"
        )
        if mix != "static" and statics:
            # The ratio of each run to the static run beside it, then the median.
            ratios = [m.rate / s.rate for m, s in zip(runs[mix], statics, strict=False)]
            line += f"  {_median(ratios):.2f} of static"
        if mix in TARGETS:
            rate, p99 = TARGETS[mix]
            target = f"target ≥ {rate:,}/s" + (f", p99 ≤ {p99:.0f} ms" if p99 else "")
            met = median.rate >= rate and (p99 is None or median.p99 <= p99)
            line += f"  ({target}: {'met' if met else 'NOT met'})"
        print(line, flush=True)
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10,000 enterprises, 1M codes")
    parser.add_argument("--fresh", action="store_true", help="seed the database again")
    parser.add_argument(
        "--database", help="the seeded database's name (default credtrace_bench[_small])"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per run of a mix")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections, reads")
    parser.add_argument("--writers", type=int, default=32, help="clients of the records mix")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--server", default="granian", help="comma-separated: granian,uvicorn")
    parser.add_argument("--workers", default="2", help="comma-separated worker counts")
    parser.add_argument("--mix", default=",".join(MIXES), help=f"comma-separated of {MIXES}")
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="DIR",
        help="serve the source tree DIR too (another commit's checkout), interleaved",
    )
    options = parser.parse_args()
    _ensure_wrk()
    mixes = [m for m in options.mix.split(",") if m]
    unknown = set(mixes) - set(MIXES)
    if unknown:
        parser.error(f"unknown mix {', '.join(sorted(unknown))}: choose from {', '.join(MIXES)}")
    if "static" not in mixes:
        mixes.insert(0, "static")  # the ratio needs it
    base = os.environ.get("CREDTRACE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
    redis_url = os.environ.get("CREDTRACE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    profile = SMALL if options.small else FULL
    if options.database:
        profile = dataclasses.replace(profile, database=options.database)
    manifest = prepare(profile, base, options.fresh)
    url = _database_url(base, profile.database)
    files = data_files(profile, manifest)
    tokens = make_tokens(profile, url)
    print(
        f"PostgreSQL {profile.database} ({profile.enterprises:,} enterprises, "
        f"{profile.codes:,} codes), Redis; wrk -t{options.threads} -c{options.connections} "
        f"(records: -c{options.writers}), {options.seconds} s a run; medians of "
        f"{options.runs} runs",
        flush=True,
    )
    configs = [
        Config(server, int(workers), tree)
        for tree in [ROOT, *(Path(t).resolve() for t in options.code)]
        for server in options.server.split(",")
        for workers in options.workers.split(",")
    ]
    runs: dict[Config, dict[str, list[Measure]]] = {
        config: {mix: [] for mix in mixes} for config in configs
    }
    try:
        with contextlib.ExitStack() as servers:
            # Every server up at once and their runs interleaved, so that a change in the
            # machine's load falls on all of them alike.
            addresses = {
                config: servers.enter_context(running_server(profile, url, redis_url, config))
                for config in configs
            }
            for _ in range(options.runs):
                for config, address in addresses.items():
                    for mix in mixes:
                        runs[config][mix].append(wrk(address, mix, files, tokens, options))
        for config, measured in runs.items():
            report(config, measured)
    finally:
        for token in tokens.values():
            token.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
