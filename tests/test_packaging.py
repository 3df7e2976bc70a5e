"""The verifier installs and runs with ``cryptography`` alone, in a clean venv.

The project is built into a wheel (from a copy of its source, so the tree stays clean),
installed without extras into a fresh ``python -m venv`` that sees no other site packages,
and its ``python -m ledger verify --url`` checks a live server started from this venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.test_remote_and_export import live

ROOT = Path(__file__).resolve().parents[1]
VERIFIER_DISTRIBUTIONS = {"credtrace", "cryptography", "cffi", "pycparser", "pip", "setuptools"}
SERVER_MODULES = ["litestar", "uvicorn", "msgspec", "sqlalchemy", "sqlmodel", "alembic", "tqdm"]

__all__ = ["live"]  # the live-server fixture, shared with the remote verifier tests


def _run(*cmd: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _source_copy(dest: Path) -> None:
    """The files a build reads: metadata and the packages, none of the checkout's state."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in ("ledger", "credit", "qr", "lookup_api"):
        shutil.copytree(ROOT / package, dest / package, ignore=ignore)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "src"
    source.mkdir()
    _source_copy(source)
    wheels = work / "wheels"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, source,
        cwd=work,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = wheels.glob("credtrace-*.whl")
    return found


@pytest.fixture(scope="module")
def verifier_venv(wheel: Path) -> Path:
    work = wheel.parent.parent
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    made = _run(base, "-m", "venv", venv, cwd=work)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # A venv made from another venv's interpreter must still see no site packages but its own.
    paths = _run(python, "-c", "import sys, json; print(json.dumps(sys.path))", cwd=work)
    assert not [p for p in json.loads(paths.stdout) if "site-packages" in p and str(venv) not in p]
    installed = _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=work)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


@pytest.mark.slow
def test_a_bare_install_holds_only_cryptography(verifier_venv: Path, tmp_path: Path) -> None:
    listed = _run(verifier_venv, "-m", "pip", "list", "--format=json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert {"credtrace", "cryptography"} <= names
    assert names <= VERIFIER_DISTRIBUTIONS, (
        f"not the verifier's alone: {names - VERIFIER_DISTRIBUTIONS}"
    )
    for module in SERVER_MODULES:
        imported = _run(verifier_venv, "-c", f"import {module}", cwd=tmp_path)
        assert imported.returncode != 0, f"{module} is importable in the bare install"
        assert "ModuleNotFoundError" in imported.stderr, imported.stderr


@pytest.mark.slow
def test_the_bare_install_verifies_a_live_log(
    verifier_venv: Path, live: tuple[str, Path, Ledger], signer: Signer, tmp_path: Path
) -> None:
    url, _, _ = live
    where = _run(verifier_venv, "-c", "import ledger; print(ledger.__file__)", cwd=tmp_path)
    assert where.returncode == 0 and str(ROOT) not in where.stdout, where.stdout + where.stderr
    state = tmp_path / "trusted.checkpoint"
    audit = _run(
        verifier_venv, "-m", "ledger", "verify", "--url", url, "--key", str(signer.verifier),
        "--state", state, "--json",
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["size"] == 1501 and report["redacted"] == 1
    wrong = _run(
        verifier_venv, "-m", "ledger", "verify", "--url", url,
        "--key", str(Signer.generate(ORIGIN).verifier),
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert wrong.returncode != 0 and "key" in wrong.stderr


MIGRATION_FOLDERS = ("ledger/store/migrations", "lookup_api/migrations")


@pytest.mark.slow
def test_the_wheel_holds_every_file_the_migrations_need(wheel: Path) -> None:
    """Alembic reads env.py, the revisions and the template from the installed package."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for folder in MIGRATION_FOLDERS:
        needed = {
            str(path.relative_to(ROOT))
            for path in (ROOT / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        assert {f"{folder}/env.py", f"{folder}/script.py.mako", f"{folder}/README.md"} <= needed
        assert needed <= names, f"missing from the wheel: {sorted(needed - names)}"


@pytest.mark.slow
def test_the_wheel_holds_the_browser_proof_checker(wheel: Path) -> None:
    """The explorer's route serves ledger-verify.js from the installed package."""
    with zipfile.ZipFile(wheel) as archive:
        assert "lookup_api/routes/explorer/ledger-verify.js" in archive.namelist()
