"""RFC 6962 / RFC 9162 proof vectors (transparency-dev/merkle) against ledger.tlog.merkle."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.tlog.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    hash_leaf,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from tests.conftest import TESTDATA

RFC6962 = TESTDATA / "rfc6962"

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]


def _files(kind: str) -> list[Path]:
    return sorted((RFC6962 / kind).glob("**/*.json"))


INCLUSION_FILES = _files("inclusion")
CONSISTENCY_FILES = _files("consistency")


def _id(path: Path) -> str:
    return path.relative_to(RFC6962).as_posix()


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(item) for item in (value or [])]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_vector_directories_are_present() -> None:
    # Guards against the parametrised tests silently collecting nothing.
    assert len(INCLUSION_FILES) > 50
    assert len(CONSISTENCY_FILES) > 50
    assert sum(p.name == "happy-path.json" for p in INCLUSION_FILES) >= 5
    assert sum(p.name == "happy-path.json" for p in CONSISTENCY_FILES) >= 5


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize(
    "path", [p for p in INCLUSION_FILES if p.name == "happy-path.json"], ids=_id
)
def test_memory_tree_reproduces_happy_inclusion_proofs(path: Path) -> None:
    v = _load(path)
    if v["treeSize"] > len(LEAF_INPUTS):
        pytest.skip("vector is not over the eight README leaves")
    tree = MemoryTree(hash_leaf(x) for x in LEAF_INPUTS[: v["treeSize"]])
    assert tree.root() == _b64(v["root"])
    assert tree.inclusion_proof(v["leafIdx"]) == _proof(v["proof"])


@pytest.mark.parametrize(
    "path", [p for p in CONSISTENCY_FILES if p.name == "happy-path.json"], ids=_id
)
def test_memory_tree_reproduces_happy_consistency_proofs(path: Path) -> None:
    v = _load(path)
    tree = MemoryTree(hash_leaf(x) for x in LEAF_INPUTS[: v["size2"]])
    assert tree.root(v["size1"]) == _b64(v["root1"])
    assert tree.root(v["size2"]) == _b64(v["root2"])
    if v["size1"] < v["size2"]:
        assert tree.consistency_proof(v["size1"], v["size2"]) == _proof(v["proof"])


def test_empty_root_is_sha256_of_nothing() -> None:
    assert ROOTS[0] == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == ROOTS[0]
    assert MemoryTree().root() == ROOTS[0]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_by_tree_size(size: int) -> None:
    leaf_hashes = [hash_leaf(x) for x in LEAF_INPUTS[:size]]
    assert root_from_leaf_hashes(leaf_hashes) == ROOTS[size]
    assert MemoryTree(leaf_hashes).root() == ROOTS[size]
    # A tree that has grown past `size` still answers the old root.
    full = MemoryTree(hash_leaf(x) for x in LEAF_INPUTS)
    assert full.root(size) == ROOTS[size]


def test_roots_by_tree_size_when_appending_one_by_one() -> None:
    tree = MemoryTree()
    assert tree.root() == ROOTS[0]
    for size, leaf in enumerate(LEAF_INPUTS, start=1):
        tree.append(hash_leaf(leaf))
        assert tree.size == size
        assert tree.root() == ROOTS[size]


INCLUSION_PAIRS = [(i, n) for n in range(1, 9) for i in range(n)]
CONSISTENCY_PAIRS = [(m, n) for n in range(1, 9) for m in range(1, n + 1)]


@pytest.mark.parametrize(("index", "size"), INCLUSION_PAIRS)
def test_memory_tree_inclusion_proofs_verify(index: int, size: int) -> None:
    tree = MemoryTree(hash_leaf(x) for x in LEAF_INPUTS)
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(index, size, hash_leaf(LEAF_INPUTS[index]), proof, ROOTS[size])
    # The same proof does not prove a different leaf at that position.
    other = hash_leaf(LEAF_INPUTS[(index + 1) % 8] + b"x")
    with pytest.raises(ProofError):
        verify_inclusion(index, size, other, proof, ROOTS[size])


@pytest.mark.parametrize(("size1", "size2"), CONSISTENCY_PAIRS)
def test_memory_tree_consistency_proofs_verify(size1: int, size2: int) -> None:
    tree = MemoryTree(hash_leaf(x) for x in LEAF_INPUTS)
    proof = tree.consistency_proof(size1, size2)
    if size1 == size2:
        assert proof == []
    verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])
    # A proof never links the second root to a wrong first root.
    wrong = bytes([ROOTS[size1][0] ^ 1]) + ROOTS[size1][1:]
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, wrong, ROOTS[size2])
