"""The layers: every import points along the arrows, and the CLI does not load the web stack.

``lookup_api → {credit, qr} → ledger.records → ledger.store → ledger.tlog``, and
``ledger.audit`` needs only ``ledger.tlog``. The modules are parsed (``ast``), not imported,
so a module that breaks the rule is caught even when nothing imports it yet. Imports inside
functions and under ``if TYPE_CHECKING:`` count too: they are dependencies all the same.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ledger", "credit", "qr", "lookup_api")
STDLIB = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class Rule:
    name: str
    project: frozenset[str]  # project modules (and their submodules) it may import
    third_party: frozenset[str]  # top-level third-party modules it may import
    optional: frozenset[str] = frozenset()  # only inside try/except ImportError
    anything: bool = False


# ``ledger.errors`` imports nothing from the project, so every layer may import it; the
# ``ledger`` package itself is imported by every ``ledger.*`` import and must stay empty.
_BASE = frozenset({"ledger.errors"})
_TLOG_3P = frozenset({"cryptography"})
_STORE_3P = _TLOG_3P | {"sqlalchemy", "sqlmodel", "alembic", "psycopg"}
_RECORDS_3P = _STORE_3P | {"msgspec"}
_RECORDS = _BASE | {"ledger.tlog", "ledger.audit", "ledger.store", "ledger.records"}

RULES: dict[str, Rule] = {
    "ledger": Rule("the ledger package imports only the standard library", _BASE, frozenset()),
    "ledger.errors": Rule(
        "ledger.errors imports only the standard library", frozenset(), frozenset()
    ),
    "ledger.tlog": Rule(
        "ledger.tlog (the protocol) imports only the standard library, cryptography and "
        "ledger.tlog",
        _BASE | {"ledger.tlog"},
        _TLOG_3P,
        # jcs.py's fast path; the verifier runs without it (tests/test_packaging.py).
        optional=frozenset({"msgspec"}),
    ),
    "ledger.audit": Rule(
        "ledger.audit (the verifiers) imports only what ledger.tlog may, ledger.tlog and "
        "ledger.audit",
        _BASE | {"ledger.tlog", "ledger.audit"},
        _TLOG_3P,
    ),
    "ledger.__main__": Rule(
        "python -m ledger (the auditor's command) imports only what ledger.audit may",
        _BASE | {"ledger.tlog", "ledger.audit"},
        _TLOG_3P,
    ),
    "ledger.store": Rule(
        "ledger.store imports only ledger.tlog, ledger.audit, ledger.store and "
        + ", ".join(sorted(_STORE_3P)),
        _BASE | {"ledger.tlog", "ledger.audit", "ledger.store"},
        _STORE_3P,
    ),
    "ledger.records": Rule(
        "ledger.records imports only the ledger layers below it, ledger.records and "
        + ", ".join(sorted(_RECORDS_3P)),
        _RECORDS,
        _RECORDS_3P,
    ),
    "credit": Rule(
        "credit imports only ledger (records and below) and credit: not qr, not lookup_api",
        _RECORDS | {"credit"},
        _RECORDS_3P,
    ),
    "qr": Rule(
        "qr imports only ledger (records and below), qr and qrcode: not credit, not lookup_api",
        _RECORDS | {"qr"},
        _RECORDS_3P | {"qrcode"},
    ),
    "lookup_api": Rule(
        "lookup_api may import every layer and the server's dependencies",
        frozenset(),
        # uvloop and httptools are the HTTP servers' own speed-ups, declared beside them.
        _RECORDS_3P
        | {"qrcode", "litestar", "granian", "uvicorn", "uvloop", "httptools", "redis", "tqdm"},
        anything=True,
    ),
}

# Imports that break a rule today and are being removed; each names why it is tolerated.
PENDING: dict[tuple[str, str], str] = {}

# Top-level module names of the distributions in pyproject.toml, where they differ.
MODULE_OF_DISTRIBUTION = {"psycopg[binary]": "psycopg"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    """The rule that applies to a project module: the longest matching key of RULES."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RULES:
            return ".".join(parts[:n])
    raise AssertionError(f"{module}: no layer rule covers it; add one to RULES")


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = {"ImportError", "ModuleNotFoundError"}
    kind = handler.type
    if isinstance(kind, ast.Name):
        return kind.id in names
    if isinstance(kind, ast.Tuple):
        return any(isinstance(e, ast.Name) and e.id in names for e in kind.elts)
    return False


@dataclass(frozen=True)
class Import:
    target: str
    line: int
    optional: bool  # inside ``try:`` whose handler catches ImportError


def _imports(path: Path, module: str) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    optional_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for stmt in node.body:
                optional_nodes.update(id(n) for n in ast.walk(stmt))
    found: list[Import] = []
    for node in ast.walk(tree):
        optional = id(node) in optional_nodes
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, optional) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from ledger import tlog`` imports the module ledger.tlog.
                sub = f"{source}.{alias.name}"
                target = sub if _is_module(sub) else source
                found.append(Import(target, node.lineno, optional))
    return found


def _allowed(rule: Rule, imp: Import) -> bool:
    top = imp.target.split(".")[0]
    if top in STDLIB or top == "__future__":
        return True
    if top in PACKAGES:
        if rule.anything or imp.target == "ledger":
            return True
        return any(imp.target == p or imp.target.startswith(p + ".") for p in rule.project)
    return top in rule.third_party or (imp.optional and top in rule.optional)


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_import_points_along_the_arrows() -> None:
    sources = _sources()
    assert len(sources) > 40, "the packages were not found"
    violations: list[str] = []
    pending_seen: set[tuple[str, str]] = set()
    for path in sources:
        module = _module_name(path)
        layer = _layer(module)
        rule = RULES[layer]
        for imp in _imports(path, module):
            if _allowed(rule, imp):
                continue
            if (module, imp.target) in PENDING:
                pending_seen.add((module, imp.target))
                continue
            where = f"{path.relative_to(ROOT)}:{imp.line}"
            how = " (an optional import: only the names in Rule.optional)" if imp.optional else ""
            violations.append(
                f"{where}: {module} imports {imp.target}{how}; rule [{layer}]: {rule.name}"
            )
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_the_rule_catches_an_import_against_the_arrows() -> None:
    tlog = RULES[_layer("ledger.tlog.merkle")]
    assert not _allowed(tlog, Import("ledger.store.log", 1, False))
    assert not _allowed(tlog, Import("msgspec", 1, False))  # optional only
    assert _allowed(tlog, Import("msgspec", 1, True))
    assert not _allowed(tlog, Import("sqlalchemy", 1, True))
    assert not _allowed(RULES["ledger.audit"], Import("sqlalchemy.engine", 1, False))
    assert not _allowed(RULES["ledger.store"], Import("ledger.records.tables", 1, False))
    assert not _allowed(RULES["ledger.records"], Import("credit.disclosure", 1, False))
    assert not _allowed(RULES["credit"], Import("qr", 1, False))
    assert not _allowed(RULES["qr"], Import("credit.catalogue", 1, False))
    assert not _allowed(RULES["credit"], Import("lookup_api.wiring", 1, False))
    assert not _allowed(RULES["credit"], Import("litestar", 1, False))
    assert _allowed(RULES["credit"], Import("ledger.errors", 1, False))
    assert _allowed(RULES["lookup_api"], Import("credit.disclosure", 1, False))
    assert not _allowed(RULES["lookup_api"], Import("numpy", 1, False))  # not a dependency
    assert _layer("ledger.store.migrations.versions.0001_ledger") == "ledger.store"
    assert _layer("ledger") == "ledger" and _layer("ledger.__main__") == "ledger.__main__"


def test_relative_and_optional_imports_are_resolved(tmp_path: Path) -> None:
    source = tmp_path / "fake.py"
    source.write_text(
        "from . import log\n"
        "from ..tlog import merkle\n"
        "from .engine import migrate\n"
        "try:\n    import msgspec\nexcept ImportError:\n    pass\n"
        "def f():\n    import litestar\n",
        encoding="utf-8",
    )
    found = {(i.target, i.optional) for i in _imports(source, "ledger.store.fake")}
    assert found == {
        ("ledger.store.log", False),
        ("ledger.tlog.merkle", False),
        ("ledger.store.engine", False),
        ("msgspec", True),
        ("litestar", False),
    }


def _dependencies() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def modules(specs: list[str]) -> set[str]:
        names = set()
        for spec in specs:
            dist = spec.split(">")[0].split("<")[0].split("=")[0].strip()
            names.add(MODULE_OF_DISTRIBUTION.get(dist, dist.split("[")[0]))
        return names

    return modules(project["dependencies"]), modules(project["optional-dependencies"]["server"])


def test_third_party_allow_lists_are_the_declared_dependencies() -> None:
    core, server = _dependencies()
    # What the verifier layers import is exactly what a bare install brings.
    for layer in ("ledger", "ledger.errors", "ledger.tlog", "ledger.audit", "ledger.__main__"):
        assert RULES[layer].third_party <= core, (layer, RULES[layer].third_party - core)
    assert core == set(RULES["ledger.tlog"].third_party)
    # Everything any layer may import is declared somewhere.
    allowed = set().union(*(r.third_party | r.optional for r in RULES.values()))
    assert allowed <= core | server, allowed - (core | server)
    assert RULES["lookup_api"].third_party == core | server


def _imported(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in result.stdout.split()}


WEB_STACK = {"litestar", "granian", "uvicorn"}


@pytest.mark.parametrize("module", ["lookup_api.wiring", "lookup_api.cli"])
def test_wiring_and_cli_do_not_import_the_web_stack(module: str) -> None:
    loaded = _imported(f"import {module}")
    assert module.split(".", maxsplit=1)[0] in loaded
    assert not loaded & WEB_STACK, f"import {module} loads {sorted(loaded & WEB_STACK)}"


def test_the_import_parse_worker_loads_no_sql() -> None:
    # The worker of `credtrace import` starts before the ledger opens, so that it parses
    # while the writer loads SQLAlchemy: it must not load it too.
    loaded = _imported("import lookup_api.bulk.importer, lookup_api.cli")
    assert not loaded & (WEB_STACK | {"sqlalchemy", "alembic"}), sorted(loaded)


def test_the_verifier_imports_neither_the_database_nor_the_web_stack() -> None:
    loaded = _imported("import ledger.__main__, ledger.audit.remote, ledger.audit.verify")
    unwanted = WEB_STACK | {"sqlalchemy", "sqlmodel", "alembic", "psycopg", "msgspec"}
    # msgspec may be loaded by jcs's optional fast path when it is installed; the others not.
    assert not (loaded & unwanted) - {"msgspec"}, sorted(loaded & unwanted)


def test_credtrace_keys_list_does_not_load_the_web_stack(tmp_path: Path) -> None:
    credtrace = Path(sys.executable).with_name("credtrace")
    assert credtrace.is_file(), "the console script is installed"
    env = {
        **os.environ,
        "CREDTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}",
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "PYTHONPROFILEIMPORTTIME": "1",
    }
    env.pop("CREDTRACE_REDIS_URL", None)
    first = {k: v for k, v in env.items() if k != "PYTHONPROFILEIMPORTTIME"}
    subprocess.run([str(credtrace), "keys", "list"], env=first, check=True, capture_output=True)
    result = subprocess.run(  # the second run finds the database migrated
        [str(credtrace), "keys", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    timed = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert any(line.rstrip().endswith("lookup_api.cli") for line in timed), "importtime output"
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in timed}
    assert "sqlalchemy" in loaded  # it did open the database
    assert not loaded & WEB_STACK, f"credtrace keys list loads {sorted(loaded & WEB_STACK)}"
    assert "alembic" not in loaded, "an up-to-date database is not migrated"
