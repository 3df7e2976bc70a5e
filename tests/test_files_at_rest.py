"""What the server leaves on disk is owner-only: folders 0700; database, WAL, shm and key 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from ledger.store.config import LedgerConfig
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_its_wal_and_its_folders_are_owner_only(tmp_path: Path) -> None:
    var = tmp_path / "var" / "data"
    database = var / "credtrace.db"
    key = tmp_path / "var" / "keys" / "ledger.key"
    settings = Settings(ledger=LedgerConfig(f"sqlite:///{database}", key, ORIGIN))
    services = Services.open(settings)
    try:
        services.ledger.append([enterprise(n) for n in range(5)])
        files = [database, var / "credtrace.db-wal", var / "credtrace.db-shm", key]
        assert all(f.exists() for f in files)  # the WAL is there while the service runs
        assert {str(f.name): _mode(f) for f in files} == {f.name: 0o600 for f in files}
        folders = [tmp_path / "var", var, key.parent]
        assert {str(d): _mode(d) for d in folders} == {str(d): 0o700 for d in folders}
    finally:
        services.close()


def test_an_existing_folder_is_left_as_it_is(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    settings = Settings(
        ledger=LedgerConfig(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "k.key", ORIGIN)
    )
    Services.open(settings).close()
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "c.db") == 0o600
