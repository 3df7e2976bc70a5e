"""The whole declared schema of the service, and the check that a database matches it.

The application's own tables (API keys, the credit recomputes) are declared here, on
their own ``MetaData`` because their own migration environment (``lookup_api/migrations``)
creates them. The ledger's and the projection tables are declared on
``ledger.store.schema.metadata``; importing ``ledger.records.tables`` and ``qr.tables`` is
what declares the projection and code tables there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, Text

import ledger.records.tables  # noqa: F401  (declares the projection tables on the ledger's metadata)
import qr.tables  # noqa: F401  (declares the codes' tables there too)
from ledger.store.engine import LEDGER_MIGRATIONS
from ledger.store.schema import differences
from ledger.store.schema import metadata as ledger_metadata
from lookup_api.auth import APP_MIGRATIONS

app_metadata = MetaData()

# API keys, stored hashed, each with a role (see lookup_api.auth).
api_keys = Table(
    "api_keys",
    app_metadata,
    Column("key_id", Text, primary_key=True),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("role", Text, nullable=False),
    Column("uscc", Text, nullable=True),
    Column("label", Text, nullable=True),
    Column("created_at", Text, nullable=False),
    Column("revoked_at", Text, nullable=True),
)

# The China day each credit recompute applied, when it finished and what it changed (see
# lookup_api.credit_recomputes): the service recomputes at start only when overdue.
credit_recomputes = Table(
    "credit_recomputes",
    app_metadata,
    Column("day", Text, primary_key=True),
    Column("finished_at", Text, nullable=False),
    Column("enterprises", BigInteger, nullable=False),
    Column("changed", BigInteger, nullable=False),
)

# Everything a migrated database holds: the ledger, its projections, the application's.
SCHEMA: tuple[MetaData, ...] = (ledger_metadata, app_metadata)


def version_tables() -> frozenset[str]:
    """Alembic's bookkeeping tables, one per migration chain: in no declared schema."""
    return frozenset(chain.version_table for chain in (LEDGER_MIGRATIONS, APP_MIGRATIONS))


def schema_differences(engine: Engine) -> list[Any]:
    """The changes that would turn the migrated database behind ``engine`` into ``SCHEMA``.

    Empty when every declared table, column, index and constraint was created by a
    revision and nothing else is there.
    """
    return differences(engine, SCHEMA, version_tables())
