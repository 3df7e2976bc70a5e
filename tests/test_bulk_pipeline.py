"""The bulk pipeline knows no job: import and seed pass it their producer."""

from __future__ import annotations

import ast
from pathlib import Path

import lookup_api.bulk.pipeline as pipeline


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
