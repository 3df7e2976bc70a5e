"""Shared fixtures: a real database per test (SQLite file, PostgreSQL schema), keys, ledgers.

A test's database starts migrated (the ledger's and the app's tables at their heads) from a
template made once per session by the real migrations: the SQLite file is copied, and the
SQL the migrations sent to PostgreSQL is sent again into the test's own schema. Tests of
the migrations themselves take ``blank_db_url``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text

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


CHECKOUT = Path(__file__).resolve().parents[1]


def _state_of(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file under ``folder``: (size, modification time in ns)."""
    if not folder.is_dir():
        return {}
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(autouse=True)
def checkout_left_alone() -> Iterator[None]:
    """No test writes the checkout's own ``var/`` (the default home of the database and the
    key files): a server or command started with a setting left to its default must run in
    a folder of its own, or a later ``scripts/demo`` finds a test's keys there."""
    before = _state_of(CHECKOUT / "var")
    yield
    after = _state_of(CHECKOUT / "var")
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert not changed, f"tests wrote the checkout's var/: {changed}"


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


def _migrate_all(engine: Engine) -> None:
    """What opening the service does to a new database: both migration chains to head."""
    from lookup_api.auth import migrate as migrate_app

    migrate(engine)
    migrate_app(engine)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a SQLite file the migrations brought to head (closed, so no WAL)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = create_db_engine(f"sqlite:///{path}")
    _migrate_all(engine)
    engine.dispose()
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"expected the template alone once closed, got {leftovers}"
    return path.read_bytes()


def write_migrated_sqlite(path: Path, template: bytes) -> str:
    """A copy of the migrated template at ``path``, owner-only as the server makes it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(template)
    return f"sqlite:///{path}"


Statement = tuple[str, Any]


@pytest.fixture(scope="session")
def pg_migration_sql(pg_admin: Engine | None) -> Sequence[Statement]:
    """Every statement the migrations sent, with its parameters, while bringing an empty
    PostgreSQL schema to head; none names the schema (they run on its search_path)."""
    if pg_admin is None:
        return ()
    schema = f"tmpl_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sent: list[Statement] = []
    engine = create_db_engine(_pg_schema_url(schema))

    @event.listens_for(engine, "before_cursor_execute")
    def _record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        assert not many, f"expected single statements, got executemany of {statement!r}"
        sent.append((statement, parameters))

    try:
        _migrate_all(engine)
    finally:
        engine.dispose()
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    named = [statement for statement, _ in sent if schema in statement]
    assert not named, f"expected schema-free migration SQL, got {named[:1]}"
    return tuple(sent)


def _pg_schema(pg_admin: Engine, statements: Sequence[Statement] = ()) -> str:
    """A new schema, with ``statements`` sent into it as the driver first got them, in
    one transaction."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.transaction(), driver.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
            cursor.execute(f'SET LOCAL search_path TO "{schema}"')
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
    return schema


@contextmanager
def _fresh_db_url(
    kind: str,
    tmp_path: Path,
    pg_admin: Engine | None,
    sqlite_template: bytes | None,
    pg_sql: Sequence[Statement],
) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "ledger.db"
        if sqlite_template is None:
            yield f"sqlite:///{path}"
        else:
            yield write_migrated_sqlite(path, sqlite_template)
        return
    if pg_admin is None:
        pytest.skip("PostgreSQL not configured (CREDTRACE_TEST_DATABASE_URL)")
    schema = _pg_schema(pg_admin, pg_sql)
    try:
        yield _pg_schema_url(schema)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_admin: Engine | None,
    sqlite_template: bytes,
    pg_migration_sql: Sequence[Statement],
) -> Iterator[str]:
    """A fresh database URL, migrated and holding nothing: a SQLite file, or a new
    PostgreSQL schema."""
    with _fresh_db_url(request.param, tmp_path, pg_admin, sqlite_template, pg_migration_sql) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_admin: Engine | None,
    sqlite_template: bytes,
    pg_migration_sql: Sequence[Statement],
) -> Iterator[str]:
    """Like ``db_url``, but one database for a whole module: for the tests of a module
    that only read what its fixture wrote."""
    folder = tmp_path_factory.mktemp("module-db")
    with _fresh_db_url(request.param, folder, pg_admin, sqlite_template, pg_migration_sql) as url:
        yield url


@pytest.fixture(scope="module")
def another_module_db(
    module_db_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    pg_admin: Engine | None,
    sqlite_template: bytes,
    pg_migration_sql: Sequence[Statement],
) -> Iterator[Callable[[], str]]:
    """More databases like ``module_db_url`` (of its kind, migrated, empty), each new one
    made by a call, all dropped when the module ends."""
    kind = "sqlite" if module_db_url.startswith("sqlite") else "postgres"
    with ExitStack() as made:

        def new() -> str:
            folder = tmp_path_factory.mktemp("module-db")
            return made.enter_context(
                _fresh_db_url(kind, folder, pg_admin, sqlite_template, pg_migration_sql)
            )

        yield new


@pytest.fixture(params=["sqlite", "postgres"])
def blank_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_admin: Engine | None
) -> Iterator[str]:
    """A fresh, empty database URL, not migrated: a SQLite file, or a new PostgreSQL schema."""
    with _fresh_db_url(request.param, tmp_path, pg_admin, None, ()) as url:
        yield url


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
