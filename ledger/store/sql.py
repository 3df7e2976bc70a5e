"""SQL text for both databases: statements are written once, with ``?`` placeholders.

SQLite's driver takes ``?``; psycopg takes ``%s``. Statements here are literal
text without ``%`` or ``?`` inside strings, so the swap is a plain replace.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, Engine

SQLITE = "sqlite"


def is_sqlite_dialect(dialect: str) -> bool:
    return dialect == SQLITE


@lru_cache(maxsize=1024)
def for_dialect(dialect: str, sql: str) -> str:
    """``sql`` with its ``?`` placeholders in the form the dialect's driver wants."""
    return sql if dialect == SQLITE else sql.replace("?", marker(sqlite=False))


def marker(sqlite: bool) -> str:
    """One placeholder, for statements assembled from parts."""
    return "?" if sqlite else "%s"


def placeholders(conn: Connection | Engine, text: str) -> str:
    """``text`` for the database behind ``conn`` (a connection or an engine)."""
    return for_dialect(conn.dialect.name, text)
