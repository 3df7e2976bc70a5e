"""Alembic environment for the application's own tables (API keys)."""

from __future__ import annotations

from alembic import context

from lookup_api.schema import app_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - run through lookup_api.auth.migrate
    raise RuntimeError("run application migrations through lookup_api.auth.migrate()")

context.configure(
    connection=connection,
    target_metadata=app_metadata,
    version_table=config.attributes["version_table"],
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
