"""Enterprise search served by indexes: on PostgreSQL a pg_trgm GIN index that answers
``name LIKE '%text%'`` and a ``text_pattern_ops`` B-tree that answers ``uscc LIKE
'prefix%'`` whatever the database's collation; on SQLite B-trees that answer a prefix.

Revision ID: 0006_name_search
Revises: 0005_codes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_name_search"
down_revision = "0005_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_index("ix_proj_enterprises_name_search", "proj_enterprises", ["name"])
        op.create_index("ix_proj_enterprises_uscc_search", "proj_enterprises", ["uscc"])
        return
    op.execute(
        "CREATE INDEX ix_proj_enterprises_uscc_search ON proj_enterprises (uscc text_pattern_ops)"
    )
    # pg_trgm ships with PostgreSQL and is a trusted extension: the database's owner may
    # create it. It lives in one schema of the database, which need not be on this
    # connection's search_path: its operator class is named with that schema.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    ).scalar_one()
    quoted = '"' + str(schema).replace('"', '""') + '"'
    op.execute(
        "CREATE INDEX ix_proj_enterprises_name_search ON proj_enterprises "
        f"USING gin (name {quoted}.gin_trgm_ops)"
    )


def downgrade() -> None:
    op.drop_index("ix_proj_enterprises_uscc_search", table_name="proj_enterprises")
    op.drop_index("ix_proj_enterprises_name_search", table_name="proj_enterprises")
