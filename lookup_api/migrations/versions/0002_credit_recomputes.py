"""Credit recomputes: the day each ``credtrace credit recompute`` applied, so the service
runs one at start only when the last is older than today.

Revision ID: app_0002_credit_recomputes
Revises: app_0001_api_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "app_0002_credit_recomputes"
down_revision = "app_0001_api_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_recomputes",
        sa.Column("day", sa.Text(), primary_key=True),
        sa.Column("finished_at", sa.Text(), nullable=False),
        sa.Column("enterprises", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credit_recomputes")
