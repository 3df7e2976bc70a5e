"""Request keys: a retried append (same key, same record) returns the first entry.

Revision ID: 0003_request_keys
Revises: 0002_projections
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_request_keys"
down_revision = "0002_projections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_request_keys",
        sa.Column("request_key", sa.Text(), primary_key=True),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_request_keys")
