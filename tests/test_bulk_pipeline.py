"""The bulk pipeline knows no job: import and seed pass it their producer."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import lookup_api.bulk.pipeline as pipeline
from tests import factories

ROOT = Path(__file__).resolve().parents[1]


def test_the_pipeline_imports_neither_seed_nor_import() -> None:
    tree = ast.parse(Path(pipeline.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {m for m in imported if m.startswith("lookup_api")}, imported


@contextmanager
def another_thread() -> Iterator[None]:
    """A second thread running meanwhile, as in a service."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        thread.join()


def _import_file(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    lines = [
        json.dumps({"kind": "enterprise.filed", "payload": factories.enterprise_payload(n)})
        for n in range(3 * pipeline.CHUNK + 7)
    ]
    lines[5] = "not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _report(path: Path, *args: str) -> dict[str, Any]:
    """How pipelines run in a fresh process (this one may run other threads)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.workers", "pipeline-report", str(path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_worker_is_spawned_while_another_thread_runs() -> None:
    with another_thread():
        assert pipeline.start_method() == "spawn"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The pipeline reports of a fresh process, with and without a second thread."""
    path = _import_file(tmp_path_factory.mktemp("pipeline"))
    return {"alone": _report(path), "with a thread": _report(path, "--with-thread")}


def test_a_worker_is_forked_unless_another_thread_runs(
    reports: dict[str, dict[str, Any]],
) -> None:
    forked, spawned = reports["alone"], reports["with a thread"]
    assert (forked["method"], spawned["method"]) == ("fork", "spawn")
    # Either way the same chunks: every line, its refusal, in order.
    assert forked["chunks"] == spawned["chunks"]
    assert "'not json'" in forked["chunks"]
    assert forked["chunks"].count("enterprise.filed") == 3 * pipeline.CHUNK + 6


def test_a_forked_worker_never_collects_cycles(reports: dict[str, dict[str, Any]]) -> None:
    """A collection in the worker could finalise its copy of an object of the importing
    process, such as an open SQLite connection; the collector is off there from the fork."""
    assert reports["alone"]["collects"] is False
    assert reports["with a thread"]["collects"] is True  # a fresh interpreter's
