"""Shared fixtures: a real database per test (SQLite file, PostgreSQL schema), keys, ledgers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from ledger.store.engine import create_db_engine, migrate, normalise_url
from ledger.store.log import Ledger
from ledger.tlog.note import Signer

# The live server and headless Chromium fixtures of the page tests.
pytest_plugins = ["tests.browser"]

ORIGIN = "test.credtrace.local/ledger"
REQUIRE_SERVICES = os.environ.get("CREDTRACE_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("CREDTRACE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("CREDTRACE_TEST_REDIS_URL")
TESTDATA = Path(__file__).resolve().parent / "testdata"  # see testdata/README.md


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REQUIRE_SERVICES and not PG_URL:
        raise pytest.UsageError(
            "CREDTRACE_REQUIRE_SERVICES=1 but CREDTRACE_TEST_DATABASE_URL is unset"
        )
    if REQUIRE_SERVICES and not REDIS_URL:
        raise pytest.UsageError(
            "CREDTRACE_REQUIRE_SERVICES=1 but CREDTRACE_TEST_REDIS_URL is unset"
        )


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis (CREDTRACE_TEST_REDIS_URL); the test is skipped without one,
    and fails when CREDTRACE_REQUIRE_SERVICES=1."""
    if not REDIS_URL:
        pytest.skip("Redis not configured (CREDTRACE_TEST_REDIS_URL)")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        if REQUIRE_SERVICES:
            raise RuntimeError(f"Redis at {REDIS_URL} is required but unreachable: {exc}") from exc
        pytest.skip(f"Redis at {REDIS_URL} unreachable: {exc}")
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, so that runs sharing one Redis never meet."""
    return f"credtrace-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine | None]:
    if not PG_URL:
        yield None
        return
    engine = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if REQUIRE_SERVICES:
            raise RuntimeError(
                f"PostgreSQL at {PG_URL} is required but unreachable: {exc}"
            ) from exc
        yield None
        return
    with engine.connect() as conn:
        # The enterprise search's pg_trgm (migration 0006) in a schema no test drops: made
        # in a test's own schema, dropping that schema would drop it and every index on it.
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    yield engine
    engine.dispose()


def _pg_schema_url(schema: str) -> str:
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_admin: Engine | None
) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if pg_admin is None:
        pytest.skip("PostgreSQL not configured (CREDTRACE_TEST_DATABASE_URL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine: Engine, signer: Signer) -> Ledger:
    return Ledger(engine, signer, ORIGIN)
