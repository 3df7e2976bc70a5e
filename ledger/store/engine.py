"""Engines, connection settings, migrations and the sequencer's write transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from ledger.store.files import private_file

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_PAGE_SIZE = 32768
SQLITE_BUSY_TIMEOUT_MS = 60_000
WRITE_OPTION = "ledger_write"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite:///`` URLs and pick this app's drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver; transactions are begun explicitly below so that
        # writers can take the write lock up front (BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # only effective on a new file
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Freed pages are zeroed, so a redacted payload does not linger in the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA wal_autocheckpoint=4000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        # A file: URI (``sqlite:///file:path?mode=ro&uri=true``) names an existing file
        # in the mode it asks for; only a plain path is created, owner-only.
        is_uri = parsed.query.get("uri") == "true"
        if parsed.database and parsed.database != ":memory:" and not is_uri:
            private_file(Path(parsed.database))
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    # A schema can be chosen in the URL: ?options=-csearch_path%3Dname
    engine = create_engine(url, **{**POOL, **kwargs})
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_S = 5.0
# Connections kept per engine: at least what a server process uses at once (its worker
# threads, the sequencer, the leaf indexer), since one beyond the pool is closed when it
# is handed back, and a new PostgreSQL connection is a new server process (and its
# prepared statements are lost); SQLAlchemy's default of 5 made one every few requests.
POOL = {"pool_size": 12, "max_overflow": 8}


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection that has sat idle, before it is used (one that the server
    closed meanwhile, or lost in a restart, is replaced, not handed out); a connection in
    steady use is not: SQLAlchemy's ``pool_pre_ping`` would cost every checkout a round
    trip, a fourth of a one-row read's."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out another (a new one).
            raise DisconnectionError(f"a pooled connection was lost: {exc}") from exc


@dataclass(frozen=True)
class MigrationChain:
    """One Alembic environment: its scripts, its version table and its newest revision.

    ``head`` is written here as well as in the newest revision file so that a process
    finding the database up to date neither imports Alembic (about 150 ms) nor takes
    the write lock; tests/test_migrations.py checks that it names the real head.
    """

    name: str
    script_location: str
    version_table: str
    head: str


LEDGER_MIGRATIONS = MigrationChain(
    name="ledger",
    script_location="ledger.store:migrations",
    version_table="ledger_alembic_version",
    head="0006_name_search",
)


def migrate(engine: Engine) -> None:
    """Bring the ledger's tables to the latest revision (idempotent)."""
    run_migrations(engine, LEDGER_MIGRATIONS)


def alembic_config(chain: MigrationChain) -> Config:
    """An Alembic configuration for one migration environment; no ini file is needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", chain.script_location)
    config.attributes["version_table"] = chain.version_table
    return config


def current_revision(engine: Engine, chain: MigrationChain) -> str | None:
    """The revision a database is at (None before the first), read without a write lock."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(chain.version_table):
            return None
        found = conn.exec_driver_sql(f"SELECT version_num FROM {chain.version_table}").all()
        conn.rollback()
    return str(found[0][0]) if len(found) == 1 else None


def run_migrations(engine: Engine, chain: MigrationChain, revision: str = "head") -> None:
    """Upgrade one Alembic environment to ``revision``, safely when several processes start
    at once.

    A database already at the head is only read: commands that answer a question never
    wait for the write lock of an import in progress. Otherwise SQLite takes the write
    lock up front and PostgreSQL serialises on an advisory lock scoped to the schema and
    the chain's name.
    """
    if revision == "head" and current_revision(engine, chain) == chain.head:
        return
    from alembic import command

    config = alembic_config(chain)
    lock = f"hashtext(current_schema() || '.{chain.name}')"
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
        postgres = not is_sqlite(engine)
        if postgres:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({lock})")
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
        finally:
            if postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({lock})")
                conn.commit()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the ledger's single-writer lock until it ends."""
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if not is_sqlite(engine):
            conn.exec_driver_sql("SELECT id FROM ledger_lock WHERE id = 1 FOR UPDATE")
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent snapshot for reads that span several queries; it never writes.

    PostgreSQL is told the transaction is read-only. SQLite's deferred ``BEGIN``
    takes no lock until a write, and a read never writes, so readers never wait
    for the sequencer and work on a database opened with ``mode=ro``.
    """
    with engine.connect() as conn:
        if not is_sqlite(engine):
            # Set on the driver's connection, so its BEGIN says it: no round trip of its own.
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


@contextmanager
def read_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for a read that is one statement, which is its own consistent
    snapshot: on PostgreSQL outside any transaction (autocommit), so that it costs one
    round trip instead of three (BEGIN, the statement, COMMIT); SQLite's deferred
    transaction costs no round trip, and is kept (``read_transaction``)."""
    if is_sqlite(engine):
        with read_transaction(engine) as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@contextmanager
def driver_statement(engine: Engine) -> Iterator[Any]:
    """PostgreSQL only: the driver's connection of a pooled one, in autocommit, for a read
    that is one statement on a path taken by every request of a kind (the feed's tree
    size): SQLAlchemy's Connection and result around such a read cost about 65 us of CPU
    more than the driver's own (a third of a cached feed page's answer). The pool's
    checkout and checkin, and so its ping of an idle connection, are the same."""
    assert not is_sqlite(engine), "SQLite reads go through read_statement"
    pooled = engine.raw_connection()
    try:
        driver: Any = pooled.driver_connection
        driver.autocommit = True
        try:
            yield driver
        finally:
            driver.autocommit = False
    finally:
        pooled.close()  # back to the pool


def driver_connection(conn: Connection) -> Any:
    """The DBAPI connection underneath, for executemany/COPY on the hot paths."""
    return conn.connection.driver_connection


WAL_CHECKPOINT_ATTEMPTS = 100
WAL_CHECKPOINT_PAUSE_S = 0.01


def purge_old_row_versions(engine: Engine) -> bool:
    """Make overwritten rows unreadable on disk, after a redaction; True when done.

    SQLite zeroes freed cells (``secure_delete``) only in the main file, and the WAL
    keeps the old pages until a checkpoint: checkpoint it and truncate it, retrying
    while readers hold it. PostgreSQL keeps old row versions in the heap until VACUUM
    (its WAL segments are recycled on the server's schedule; see the README).
    """
    if is_sqlite(engine):
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            for _ in range(WAL_CHECKPOINT_ATTEMPTS):
                busy, _, _ = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return True
                time.sleep(WAL_CHECKPOINT_PAUSE_S)
        return False
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        tables = conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).scalars()
        for table in list(tables):
            conn.exec_driver_sql(f'VACUUM "{table}"')
    return True
