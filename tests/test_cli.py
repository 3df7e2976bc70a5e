"""The credtrace command line: exit codes, --json output, the commands end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import enterprise_payload, uscc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
    }

    def run(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lookup_api.cli", *args],
            cwd=ROOT,
            env={**env, **settings},
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def test_seed_verify_replay_and_keys(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seeded = cli("seed", "--enterprises", "20", "--seed", "3", "--json")
    assert seeded.returncode == 0, seeded.stderr
    summary = json.loads(seeded.stdout)
    # Each enterprise's first grade, and each change after, is an entry of its own.
    assert summary["enterprises"] == 20 and summary["tree_size"] > summary["records"]
    verified = cli("ledger", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["size"] == summary["tree_size"]
    replayed = cli("ledger", "replay", "--json")
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["equal"] is True
    key = json.loads(cli("keys", "create", "--role", "officer", "--json").stdout)
    assert key["token"].startswith("ct_") and key["role"] == "officer"
    listed = json.loads(cli("keys", "list", "--json").stdout)["keys"]
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    assert key["token"] not in cli("keys", "list").stdout
    bad = cli("keys", "create", "--role", "enterprise")
    assert bad.returncode == 2 and "--uscc" in bad.stderr
    unfiled = cli("keys", "create", "--role", "enterprise", "--uscc", uscc(999_999))
    assert unfiled.returncode == 2 and "is not filed" in unfiled.stderr
    assert len(json.loads(cli("keys", "list", "--json").stdout)["keys"]) == 1


def test_import_exit_codes_and_report(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(1)}) + "\n"
    )
    done = cli("import", str(good), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 1
    assert json.loads(done.stdout)["graded"] == 1  # the filing's first grade
    assert not (tmp_path / "good.rejected.jsonl").exists()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(2)})
        + "\n"
        + json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(1)})
        + "\n"
        + "{broken\n"
    )
    partial = cli("import", str(mixed))
    assert partial.returncode == 1
    assert "refused 2 lines" in partial.stdout
    rejected = [
        json.loads(line) for line in (tmp_path / "mixed.rejected.jsonl").read_text().splitlines()
    ]
    assert sorted((r["line"], str(r["field"])) for r in rejected) == [(2, "uscc"), (3, "None")]
    assert any("already filed" in r["reason"] for r in rejected)
    assert cli("import", str(tmp_path / "missing.jsonl")).returncode == 2
    checkpoint = json.loads(cli("ledger", "checkpoint", "--json").stdout)
    assert checkpoint["size"] == 4  # two filings, each with its first grade


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_taken_port_fails_first_and_says_how_to_choose_another(  # type: ignore[no-untyped-def]
    cli, command: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(command, "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr and "PORT=" in result.stderr
    assert "try:" not in result.stdout  # no banner of URLs that will not answer


def test_seed_refuses_a_log_that_holds_entries_and_sizes_out_of_range(cli) -> None:  # type: ignore[no-untyped-def]
    for bad in ("0", "-5", "x", "2000000"):
        refused = cli("seed", "--enterprises", bad)
        assert refused.returncode == 2 and "--enterprises" in refused.stderr, bad
        assert "Traceback" not in refused.stderr
    assert cli("seed", "--enterprises", "3", "--seed", "7").returncode == 0
    again = cli("seed", "--enterprises", "3", "--seed", "7")
    assert again.returncode == 2 and "needs an empty log" in again.stderr
    assert "Traceback" not in again.stderr


def test_errors_of_a_json_command_are_json(cli) -> None:  # type: ignore[no-untyped-def]
    empty = cli("ledger", "checkpoint", "--json")
    assert empty.returncode == 2
    assert json.loads(empty.stdout) == {
        "ok": False,
        "error": "the log is empty: no checkpoint has been signed yet",
        "exit_code": 2,
    }
    revoked = cli("keys", "revoke", "nosuchkey", "--json")
    assert revoked.returncode == 2 and json.loads(revoked.stdout)["error"] == (
        "no active key nosuchkey"
    )
    text = cli("ledger", "checkpoint")
    assert text.stdout == "" and text.stderr.startswith("credtrace: error: the log is empty")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CREDTRACE_MAX_APPEND_BATCH", "many", "a positive whole number"),
        ("CREDTRACE_SCAN_WARNING", "-5", "a positive whole number"),
        ("CREDTRACE_DATABASE_URL", "mysql://bob:hunter2@db/ledger", "sqlite:///PATH"),
        ("CREDTRACE_REDIS_URL", "localhost:6379", "redis://HOST"),
        ("CREDTRACE_PUBLIC_URL", "codes.example.cn", "http(s)://HOST"),
        ("CREDTRACE_RATE_PUBLIC", "lots", "REQUESTS/SECONDS"),
        ("CREDTRACE_TRUSTED_PROXIES", "proxy.local", "IP addresses"),
        ("CREDTRACE_REQUEST_TIMEOUT", "x" * 500, "seconds above 0"),
        ("CREDTRACE_RECOMPUTE", "of", "on or off"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(  # type: ignore[no-untyped-def]
    cli, variable: str, value: str, expected: str
) -> None:
    result = cli("ledger", "checkpoint", **{variable: value})
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"credtrace: error: {variable}: expected {expected}")
    assert f"got {value[:10]!r}"[:-1] in line and len(line) < 200
    assert "hunter2" not in line


def test_a_reader_that_goes_away_gets_no_traceback(db_url: str, tmp_path: Path) -> None:
    """``credtrace keys list | head`` when head has already exited."""
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lookup_api.cli", "keys", "list", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(120) == 141, stderr
    assert "Traceback" not in stderr


def test_help_loads_neither_the_database_nor_the_web_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lookup_api.cli", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "usage: credtrace" in result.stdout
    loaded = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "lookup_api" in loaded
    assert not loaded & {"sqlalchemy", "alembic", "litestar", "uvicorn", "tqdm", "msgspec"}
