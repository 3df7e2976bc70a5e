"""Ledger settings from the environment, each with a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///var/credtrace.db"
DEFAULT_KEY_FILE = "var/ledger.key"
DEFAULT_ORIGIN = "credtrace.local/ledger"


@dataclass(frozen=True)
class LedgerConfig:
    database_url: str = DEFAULT_DATABASE_URL
    key_file: Path = Path(DEFAULT_KEY_FILE)
    origin: str = DEFAULT_ORIGIN

    @classmethod
    def from_env(cls) -> LedgerConfig:
        return cls(
            database_url=os.environ.get("CREDTRACE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            key_file=Path(os.environ.get("CREDTRACE_KEY_FILE") or DEFAULT_KEY_FILE),
            origin=os.environ.get("CREDTRACE_ORIGIN") or DEFAULT_ORIGIN,
        )
