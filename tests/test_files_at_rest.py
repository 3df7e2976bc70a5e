"""What the server leaves on disk is owner-only: folders 0700; database, WAL, shm and key 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

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
    settings = Settings(
        ledger=LedgerConfig(f"sqlite:///{database}", key, ORIGIN),
        code_key_file=key.with_name("codes.key"),
    )
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
        ledger=LedgerConfig(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "k.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
    )
    Services.open(settings).close()
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "c.db") == 0o600


def _raw_files(database: Path) -> dict[str, bytes]:
    names = [database.name, database.name + "-wal", database.name + "-shm"]
    return {n: (database.parent / n).read_bytes() for n in names if (database.parent / n).exists()}


def test_a_redacted_payload_leaves_no_plaintext_in_the_database_files(tmp_path: Path) -> None:
    from litestar.testing import TestClient

    from lookup_api.app import create_app
    from lookup_api.auth import create_key
    from tests.factories import enterprise_payload

    database = tmp_path / "credtrace.db"
    settings = Settings(
        ledger=LedgerConfig(f"sqlite:///{database}", tmp_path / "k.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
    )
    services = Services.open(settings)
    secret_name = "机密抹除测试贸易有限公司 Redactable Trading"
    secret_address = "Redacted Street 4711, 前海"
    try:
        services.ledger.append([enterprise(n) for n in range(3)])
        token = create_key(services.engine, "officer")[1]
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(services=services)) as client:
            payload = enterprise_payload(7, name=secret_name, address=secret_address)
            filed = client.post(
                "/v1/records", json={"kind": "enterprise.filed", "payload": payload}, headers=auth
            )
            assert filed.status_code == 201, filed.text
            target = filed.json()["index"]
            secrets = [secret_name.encode(), secret_address.encode()]
            assert any(s in raw for raw in _raw_files(database).values() for s in secrets)
            redacted = client.post(
                "/v1/records",
                json={"kind": "entry.redacted", "payload": {"index": target, "reason": "court"}},
                headers=auth,
            )
            assert redacted.status_code == 201, redacted.text
            # Scanned as soon as the answer is in, with the server still running.
            leaks = {
                name: [s.decode() for s in secrets if s in raw]
                for name, raw in _raw_files(database).items()
            }
            assert leaks == {name: [] for name in leaks}
    finally:
        services.close()


def test_a_redaction_vacuums_old_row_versions_on_postgresql(db_url: str, tmp_path: Path) -> None:
    from sqlalchemy import text

    from ledger.store.service import AppendService
    from tests.factories import redaction

    if db_url.startswith("sqlite"):
        pytest.skip("SQLite: the raw-file scan above")
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "k.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
    )
    services = Services.open(settings)
    try:
        services.ledger.append([enterprise(n) for n in range(3)])
        appender = AppendService(services.ledger).start()
        try:
            appender.append(redaction(1))
        finally:
            appender.close()
        with services.engine.connect() as conn:
            vacuumed = conn.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                    " AND last_vacuum IS NOT NULL"
                )
            ).scalars()
            assert {"ledger_entries", "proj_enterprises"} <= set(vacuumed)
    finally:
        services.close()
