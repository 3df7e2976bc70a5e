"""Ledger settings from the environment, each with a working default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import Misconfigured

DEFAULT_DATABASE_URL = "sqlite:///var/credtrace.db"
DEFAULT_KEY_FILE = "var/ledger.key"
DEFAULT_ORIGIN = "credtrace.local/ledger"
SHOWN = 40  # characters of a refused setting quoted back
# The URL schemes the app has drivers for (ledger.store.engine.normalise_url).
DATABASE_SCHEMES = frozenset(
    {
        "sqlite",
        "sqlite+pysqlite",
        "postgresql",
        "postgres",
        "postgresql+psycopg",
        "postgresql+psycopg2",
    }
)
_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")


class BadSetting(Misconfigured, ValueError):
    """An environment setting that cannot be read: the message names the variable, what
    it takes and the start of what it holds (a URL's password hidden)."""

    def __init__(self, name: str, expected: str, got: str) -> None:
        self.name = name
        super().__init__(f"{name}: expected {expected}, got {shown(got)}")


def shown(value: str) -> str:
    """``value`` quoted for a setting's error: its first SHOWN characters, a password in
    it replaced by ``***``."""
    hidden = _PASSWORD.sub(r"\1***@", value)
    if len(hidden) <= SHOWN:
        return repr(hidden)
    return f"{hidden[:SHOWN]!r}… ({len(hidden):,} characters)"


def url_setting(name: str, value: str, schemes: frozenset[str], expected: str) -> str:
    """``value`` if it is a URL of one of ``schemes`` (``scheme://...``), else BadSetting."""
    scheme, separator, rest = value.partition("://")
    if not separator or scheme.lower() not in schemes or not rest.strip():
        raise BadSetting(name, expected, value)
    return value


@dataclass(frozen=True)
class LedgerConfig:
    database_url: str = DEFAULT_DATABASE_URL
    key_file: Path = Path(DEFAULT_KEY_FILE)
    origin: str = DEFAULT_ORIGIN

    @classmethod
    def from_env(cls) -> LedgerConfig:
        database_url = os.environ.get("CREDTRACE_DATABASE_URL") or DEFAULT_DATABASE_URL
        return cls(
            database_url=url_setting(
                "CREDTRACE_DATABASE_URL",
                database_url,
                DATABASE_SCHEMES,
                "sqlite:///PATH or postgresql://USER@HOST/DATABASE",
            ),
            key_file=Path(os.environ.get("CREDTRACE_KEY_FILE") or DEFAULT_KEY_FILE),
            origin=os.environ.get("CREDTRACE_ORIGIN") or DEFAULT_ORIGIN,
        )
