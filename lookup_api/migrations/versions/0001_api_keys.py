"""API keys, stored hashed, each with a role.

Revision ID: app_0001_api_keys
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "app_0001_api_keys"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(), primary_key=True),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("uscc", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
