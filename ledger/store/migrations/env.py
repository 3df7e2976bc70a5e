"""Alembic environment for the ledger's tables (run by ``ledger.store.engine.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import ledger.store.schema  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
connection = config.attributes.get("connection")
if (
    connection is None
):  # pragma: no cover - migrations always run through ledger.store.engine.migrate
    raise RuntimeError("run ledger migrations through ledger.store.engine.migrate()")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table="ledger_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
