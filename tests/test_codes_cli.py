"""``credtrace codes``: issue with images, export, verify offline and against a live server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from ledger.store.engine import create_db_engine, migrate
from ledger.store.keys import load_or_create_signer
from ledger.store.log import Ledger
from lookup_api.auth import migrate as migrate_app
from tests.codes_env import BATCH, GTIN, seed
from tests.conftest import ORIGIN
from tests.served import free_port

PORT_WAIT_S = 30


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A seeded database, its keys, and the environment every command runs with."""
    port = free_port()
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'site.db'}",
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "CREDTRACE_CODE_KEY_FILE": str(tmp_path / "codes.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("CREDTRACE_REDIS_URL", None)
    engine = create_db_engine(env["CREDTRACE_DATABASE_URL"])
    migrate(engine)
    migrate_app(engine)
    ledger = Ledger(engine, load_or_create_signer(tmp_path / "ledger.key", ORIGIN), ORIGIN)
    seed(ledger)
    yield {"env": env, "port": port, "ledger": ledger, "out": tmp_path / "out"}
    engine.dispose()


def credtrace(site: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lookup_api.cli", *args],
        env=site["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _issue(site: dict[str, Any], count: int, *extra: str) -> dict[str, Any]:
    done = credtrace(
        site, "codes", "issue", "--gtin", GTIN, "--batch", BATCH, "--count", str(count),
        "--out", str(site["out"]), "--actor", "operator:tester", "--json", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _manifest(zip_path: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(zip_path) as archive:
        return list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))


@pytest.fixture
def server(site: dict[str, Any]) -> Iterator[str]:
    url = f"http://127.0.0.1:{site['port']}"
    process = subprocess.Popen(
        [sys.executable, "-m", "lookup_api.cli", "serve", "--port", str(site["port"])],
        env=site["env"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + PORT_WAIT_S
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("server did not start") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(60)  # a graceful stop may take the workers' grace period


def test_issue_writes_a_zip_whose_images_decode_to_the_manifest(site: dict[str, Any]) -> None:
    result = _issue(site, 40, "--sign")
    assert result["count"] == 40 and result["signed"] is True
    rows = _manifest(result["zip"])
    assert len(rows) == 40
    assert Path(result["manifest"]).read_text().splitlines()[0] == "serial,url,file"
    with zipfile.ZipFile(result["zip"]) as archive:
        for row in rows[:10]:
            (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(archive.read(row["file"]))))
            assert decoded.text == row["url"]
            assert row["url"].startswith(site["env"]["CREDTRACE_PUBLIC_URL"] + f"/01/{GTIN}/10/")
    exported = credtrace(
        site, "codes", "export", "--gtin", GTIN, "--batch", BATCH, "--out", str(site["out"]),
        "--json",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    again = _manifest(json.loads(exported.stdout)["zip"])
    assert [r["serial"] for r in again] == [r["serial"] for r in rows]


def test_issue_refuses_an_undeclared_batch_and_says_why(site: dict[str, Any]) -> None:
    done = credtrace(
        site, "codes", "issue", "--gtin", GTIN, "--batch", "NOPE", "--count", "3",
        "--out", str(site["out"]), "--actor", "operator:tester",
    )  # fmt: skip
    assert done.returncode == 2
    assert "batch NOPE" in done.stderr and "not declared" in done.stderr


def test_verify_offline_with_the_published_keys(site: dict[str, Any], tmp_path: Path) -> None:
    rows = _manifest(_issue(site, 3, "--sign")["zip"])
    keys = credtrace(site, "codes", "keys")
    assert keys.returncode == 0, keys.stderr
    key_file = tmp_path / "code-keys.txt"
    key_file.write_text(keys.stdout)
    good = credtrace(site, "codes", "verify", rows[0]["url"], "--keys", str(key_file), "--offline")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "checks run: url, check_character, signature" in good.stdout
    # After a rotation the old codes still verify with the published keys.
    assert credtrace(site, "codes", "rotate-key").returncode == 0
    key_file.write_text(credtrace(site, "codes", "keys").stdout)
    assert len(key_file.read_text().splitlines()) == 2
    old = credtrace(site, "codes", "verify", rows[1]["url"], "--keys", str(key_file), "--offline")
    assert old.returncode == 0, old.stdout
    url = rows[2]["url"]
    bad = url[:-1] + ("A" if url[-1] != "A" else "B")
    refused = credtrace(
        site, "codes", "verify", bad, "--keys", str(key_file), "--offline", "--json"
    )
    assert refused.returncode == 1
    report = json.loads(refused.stdout)
    assert report["ok"] is False
    assert {c["name"]: c["status"] for c in report["checks"]}["signature"] == "failed"


def test_verify_online_checks_issued_revoked_and_the_proof(
    site: dict[str, Any], server: str
) -> None:
    rows = _manifest(_issue(site, 3)["zip"])
    online = credtrace(site, "codes", "verify", rows[0]["url"], "--json")
    assert online.returncode == 0, online.stdout + online.stderr
    statuses = {c["name"]: c["status"] for c in json.loads(online.stdout)["checks"]}
    assert statuses == {
        "url": "passed",
        "check_character": "passed",
        "signature": "skipped",
        "host": "passed",
        "issued": "passed",
        "revoked": "passed",
        "recalled": "passed",
        "proof": "passed",
    }
    done = credtrace(
        site, "codes", "revoke", "--gtin", GTIN, "--batch", BATCH, "--serial", rows[1]["serial"],
        "--reason", "labels stolen", "--actor", "operator:tester",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "revoked 1 codes" in done.stdout
    revoked = credtrace(site, "codes", "verify", rows[1]["url"], "--json")
    assert revoked.returncode == 1
    checks = {c["name"]: c for c in json.loads(revoked.stdout)["checks"]}
    assert checks["revoked"]["status"] == "failed"
    assert "revoked by ledger entry" in checks["revoked"]["detail"]


def test_revoke_refuses_a_malformed_serial_and_says_so(site: dict[str, Any]) -> None:
    done = credtrace(
        site, "codes", "revoke", "--gtin", GTIN, "--batch", BATCH, "--serial", "nope",
        "--reason", "x", "--actor", "operator:tester",
    )  # fmt: skip
    assert done.returncode == 2
    assert "serials" in done.stderr


def test_verify_asks_the_register_not_the_host_a_code_names(
    site: dict[str, Any], server: str
) -> None:
    rows = _manifest(_issue(site, 1)["zip"])
    elsewhere = rows[0]["url"].replace("http://127.0.0.1:", "http://localhost:")
    done = credtrace(site, "codes", "verify", elsewhere, "--json")
    assert done.returncode == 1
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["host"]["status"] == "failed"
    assert "not the service it was checked with" in checks["host"]["detail"]
    assert checks["issued"]["status"] == "passed"  # asked of the register, which knows it


def test_verify_says_when_the_server_is_unreachable(site: dict[str, Any]) -> None:
    rows = _manifest(_issue(site, 1)["zip"])
    done = credtrace(site, "codes", "verify", rows[0]["url"], "--json")  # nothing serves
    assert done.returncode == 1
    checks = {c["name"]: c["status"] for c in json.loads(done.stdout)["checks"]}
    assert checks["issued"] == "skipped" and checks["proof"] == "skipped"
