"""The long-lived objects a running service needs, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency
from sqlalchemy import Engine

from ledger.db import create_db_engine, migrate
from ledger.keys import load_or_create_signer
from ledger.log import Ledger
from ledger.service import AppendService
from lookup_api.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    ledger: Ledger
    appender: AppendService

    @classmethod
    def open(cls, settings: Settings) -> Services:
        engine = create_db_engine(settings.ledger.database_url)
        migrate(engine)
        signer = load_or_create_signer(settings.ledger.key_file, settings.ledger.origin)
        ledger = Ledger(engine, signer, settings.ledger.origin)
        appender = AppendService(ledger, max_batch=settings.max_append_batch)
        return cls(settings, engine, ledger, appender)

    def close(self) -> None:
        self.appender.close()
        self.engine.dispose()


# Route handlers receive the services by name, as an explicit dependency.
ServicesDep = NamedDependency[Services]
