"""Tampering with a real database file is found by `verify`, which names the entry."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.audit.verify import VerificationError
from ledger.store.dbverify import verify_database
from ledger.store.engine import create_db_engine, migrate
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import entry, redaction

SIZE = 700  # two full level-0 tiles and a partial one


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Signer]:
    """The bytes of an untampered log file (closed, so no WAL beside it), and its key."""
    signer = Signer.generate(ORIGIN)
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    ledger = Ledger(engine, signer, ORIGIN)
    for count in (1, 299, 400):
        ledger.append([entry() for _ in range(count)])
    ledger.append([redaction(5)])
    engine.dispose()
    assert [p.name for p in path.parent.iterdir()] == [path.name], "expected no WAL left"
    return path.read_bytes(), signer


@pytest.fixture
def built(tmp_path: Path, pristine: tuple[bytes, Signer]) -> tuple[Path, Signer]:
    """A copy of the untampered file of the test's own, to attack."""
    data, signer = pristine
    path = tmp_path / "ledger.db"
    path.write_bytes(data)
    return path, signer


def _attack(path: Path, sql: str, params: tuple[object, ...]) -> None:
    """An attacker with the file: drop the guards and rewrite bytes."""
    con = sqlite3.connect(path)
    triggers = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in triggers:
        con.execute(f"DROP TRIGGER {name}")
    con.execute(sql, params)
    con.commit()
    con.close()


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def _verify(path: Path, signer: Signer) -> None:
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        verify_database(engine, signer.verifier, ORIGIN)
    finally:
        engine.dispose()


def _column(path: Path, sql: str, params: tuple[object, ...]) -> bytes:
    con = sqlite3.connect(path)
    value = con.execute(sql, params).fetchone()[0]
    con.close()
    return bytes(value) if not isinstance(value, str) else value.encode()


def test_untouched_file_verifies(built: tuple[Path, Signer]) -> None:
    path, signer = built
    _verify(path, signer)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("column", ["leaf_input", "payload", "salt"])
def test_any_changed_byte_of_an_entry_is_reported_with_its_index(
    built: tuple[Path, Signer], column: str, seed: int
) -> None:
    path, signer = built
    rng = random.Random(f"{column}{seed}")
    index = rng.choice([0, 1, 255, 256, 299, 300, 511, 512, 699, rng.randrange(SIZE)])
    if index == 5:
        index = 6  # entry 5's payload is redacted
    data = _column(path, f"SELECT {column} FROM ledger_entries WHERE idx = ?", (index,))
    _attack(
        path,
        f"UPDATE ledger_entries SET {column} = ? WHERE idx = ?",
        (_flip(data, rng.randrange(len(data))), index),
    )
    with pytest.raises(VerificationError) as caught:
        _verify(path, signer)
    assert caught.value.index == index, str(caught.value)


@pytest.mark.parametrize("seed", range(8))
def test_any_changed_byte_of_a_stored_tile_is_reported(
    built: tuple[Path, Signer], seed: int
) -> None:
    path, signer = built
    rng = random.Random(seed)
    level, idx = rng.choice([(0, 0), (0, 1), (0, 2), (1, 0)])
    data = _column(
        path, "SELECT hashes FROM ledger_tiles WHERE level = ? AND idx = ?", (level, idx)
    )
    position = rng.randrange(len(data))
    _attack(
        path,
        "UPDATE ledger_tiles SET hashes = ? WHERE level = ? AND idx = ?",
        (_flip(data, position), level, idx),
    )
    with pytest.raises(VerificationError) as caught:
        _verify(path, signer)
    expected = ((idx * 256) + position // 32) * (256**level)
    assert caught.value.index == expected, str(caught.value)


@pytest.mark.parametrize("size", [1, 300, 700, 701])
def test_any_changed_checkpoint_is_reported(built: tuple[Path, Signer], size: int) -> None:
    path, signer = built
    note = _column(path, "SELECT note FROM ledger_checkpoints WHERE size = ?", (size,)).decode()
    rng = random.Random(size)
    position = rng.randrange(len(note.encode()) - 1)
    tampered = _flip(note.encode(), position).decode(errors="replace")
    _attack(path, "UPDATE ledger_checkpoints SET note = ? WHERE size = ?", (tampered, size))
    with pytest.raises(VerificationError) as caught:
        _verify(path, signer)
    assert caught.value.index == size - 1, str(caught.value)
    assert f"size {size}" in str(caught.value)


@pytest.mark.parametrize(
    ("column", "index"), [("leaf_input", 300), ("payload", 511), ("leaf_input", 512), ("salt", 699)]
)
def test_parallel_verification_names_the_same_entry(
    built: tuple[Path, Signer], column: str, index: int
) -> None:
    path, signer = built
    engine = create_db_engine(f"sqlite:///{path}")
    clean = verify_database(engine, signer.verifier, ORIGIN, workers=2, chunk=256)
    assert clean.size == SIZE + 1 and clean.checkpoints == 4
    data = _column(path, f"SELECT {column} FROM ledger_entries WHERE idx = ?", (index,))
    _attack(
        path,
        f"UPDATE ledger_entries SET {column} = ? WHERE idx = ?",
        (_flip(data, min(40, len(data) - 1)), index),
    )
    with pytest.raises(VerificationError) as caught:
        verify_database(engine, signer.verifier, ORIGIN, workers=2, chunk=256)
    assert caught.value.index == index, str(caught.value)
    engine.dispose()


def test_deleted_and_inserted_entries_are_reported(built: tuple[Path, Signer]) -> None:
    path, signer = built
    _attack(path, "DELETE FROM ledger_entries WHERE idx = ?", (400,))
    with pytest.raises(VerificationError) as caught:
        _verify(path, signer)
    assert caught.value.index == 400


def test_restored_payload_of_a_redacted_entry_is_reported(built: tuple[Path, Signer]) -> None:
    path, signer = built
    _attack(
        path,
        "UPDATE ledger_entries SET payload = ?, salt = ? WHERE idx = ?",
        (b'{"n":1}', bytes(16), 5),
    )
    with pytest.raises(VerificationError) as caught:
        _verify(path, signer)
    assert caught.value.index == 5


def test_cli_verify_exits_non_zero_naming_the_index(
    built: tuple[Path, Signer], tmp_path: Path
) -> None:
    path, signer = built
    key_file = tmp_path / "ledger.key"
    key_file.write_text(signer.serialize() + "\n")
    key_file.chmod(0o600)
    env = {
        "CREDTRACE_DATABASE_URL": f"sqlite:///{path}",
        "CREDTRACE_KEY_FILE": str(key_file),
        "CREDTRACE_ORIGIN": ORIGIN,
        "PATH": "/usr/bin:/bin",
    }
    ok = subprocess.run(
        [sys.executable, "-m", "lookup_api.cli", "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK: 701 entries" in ok.stdout
    data = _column(path, "SELECT payload FROM ledger_entries WHERE idx = ?", (123,))
    _attack(path, "UPDATE ledger_entries SET payload = ? WHERE idx = ?", (_flip(data, 3), 123))
    bad = subprocess.run(
        [sys.executable, "-m", "lookup_api.cli", "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "entry 123" in bad.stderr
