"""Alembic environment for the ledger's tables (run by ``ledger.store.engine.migrate``)."""

from __future__ import annotations

from alembic import context

from ledger.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if (
    connection is None
):  # pragma: no cover - migrations always run through ledger.store.engine.migrate
    raise RuntimeError("run ledger migrations through ledger.store.engine.migrate()")

context.configure(
    connection=connection,
    # The ledger's tables, and the projection tables once ledger.records.tables is
    # imported; the revisions themselves never read it (they are literal DDL).
    target_metadata=config.attributes.get("target_metadata", metadata),
    version_table=config.attributes["version_table"],
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
