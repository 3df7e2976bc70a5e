"""The actor of an import is the operator who ran it: ``operator:<name>``, nothing else."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.records.projector import Projector
from ledger.store.engine import create_db_engine
from ledger.store.log import Ledger
from ledger.tlog.envelope import parse_envelope
from ledger.tlog.note import Signer
from lookup_api.bulk.importer import import_records
from lookup_api.cli import main
from lookup_api.operators import OperatorError, operator_actor
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

BAD = [
    "",
    "x" * 5_000,
    "officer:0a1b2c3d4e5f",
    "enterprise:0a1b2c3d4e5f",
    "system:import",
    "operator:",
    "operator:Alice",
    "operator:a b",
    "operator:" + "a" * 33,
    "operator:alice\n",
    "alice",
]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(1)}))
    return path


@pytest.mark.parametrize("actor", BAD, ids=range(len(BAD)))
def test_any_other_actor_is_a_usage_error_and_nothing_is_imported(
    actor: str, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["import", str(source), "--actor", actor])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "operator:<name>" in err
    assert len(err) < 1_000  # a 5,000-character actor is not echoed back whole


@pytest.fixture(scope="module")
def refusing_ledger(module_db_url: str) -> Iterator[Ledger]:
    """One log for the module's imports that are all refused (each checks that)."""
    engine = create_db_engine(module_db_url)
    yield Ledger(engine, Signer.generate(ORIGIN), ORIGIN, hooks=[Projector()])
    engine.dispose()


@pytest.mark.parametrize("actor", BAD, ids=range(len(BAD)))
def test_the_importer_itself_refuses_them(
    actor: str, source: Path, refusing_ledger: Ledger
) -> None:
    ledger = refusing_ledger
    with pytest.raises(OperatorError, match="operator:<name>"):
        import_records(ledger, source, actor=actor)
    assert ledger.size() == 0


def test_the_operator_is_recorded_as_the_actor_and_defaults_to_the_os_user(
    source: Path, tmp_path: Path, engine: Engine, signer: Signer
) -> None:
    ledger = Ledger(engine, signer, ORIGIN, hooks=[Projector()])
    assert import_records(ledger, source, actor="operator:li.wei-2").imported == 1
    second = tmp_path / "two.jsonl"
    second.write_text(json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(2)}))
    assert import_records(ledger, second).imported == 1
    actors = [parse_envelope(e.leaf_input).actor for e in ledger.entries(0, 2)]
    assert actors == ["operator:li.wei-2", f"operator:{getpass.getuser()}"]
    assert operator_actor() == f"operator:{getpass.getuser()}"
    assert uscc(2) in parse_envelope(ledger.entries(1, 2)[0].leaf_input).subject


def test_an_os_user_that_is_no_valid_name_needs_an_explicit_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "Some User")
    with pytest.raises(OperatorError, match="give --actor operator:<name>"):
        operator_actor()
    assert operator_actor("operator:someuser") == "operator:someuser"
