"""The bulk pipeline knows no job: import and seed pass it their producer."""

from __future__ import annotations

import ast
import gc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import lookup_api.bulk.pipeline as pipeline
from lookup_api.bulk.importer import file_chunks
from tests import factories
from tests.workers import collector_state


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


def _chunks(path: Path) -> tuple[str, list[pipeline.Chunk]]:
    job = pipeline.Pipeline(file_chunks, str(path), "operator:test", None)
    return job.start_method, list(job)


def test_a_worker_is_forked_unless_another_thread_runs(tmp_path: Path) -> None:
    path = _import_file(tmp_path)
    with another_thread():
        assert pipeline.start_method() == "spawn"
        spawned, from_spawned = _chunks(path)
    assert spawned == "spawn"
    if threading.active_count() > 1:
        pytest.skip("this test process runs other threads: its workers are spawned")
    assert pipeline.start_method() == "fork"
    forked, from_forked = _chunks(path)
    assert forked == "fork"
    # Either way the same chunks: every line, its refusal, in order.
    assert from_forked == from_spawned
    assert sum(len(c.entries) for c in from_forked) == 3 * pipeline.CHUNK + 6
    assert [r[0] for c in from_forked for r in c.refusals] == [6]


def test_a_forked_worker_never_collects_cycles() -> None:
    """A collection in the worker could finalise its copy of an object of the importing
    process, such as an open SQLite connection; the collector is off there from the fork."""
    if threading.active_count() > 1:
        pytest.skip("this test process runs other threads: its workers are spawned")
    assert gc.isenabled()
    job = pipeline.Pipeline(collector_state)
    assert list(job) == [pipeline.Chunk([], [])]
    assert job.start_method == "fork"
    assert job.result is False
    assert gc.isenabled()  # and back on here
