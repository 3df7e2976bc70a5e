"""Traceability codes: every issued serial, for a lookup by serial, and scan counters.

Revision ID: 0005_codes
Revises: 0004_credit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_codes"
down_revision = "0004_credit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qr_codes",
        sa.Column("serial", sa.Text(), primary_key=True),
        sa.Column("gtin", sa.Text(), nullable=False),
        sa.Column("batch", sa.Text(), nullable=False),
        sa.Column("serials_root", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_qr_codes_root_position", "qr_codes", ["serials_root", "position"], unique=True
    )
    op.create_table(
        "qr_scans",
        sa.Column("serial", sa.Text(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_scan", sa.Text(), nullable=False),
        sa.Column("last_scan", sa.Text(), nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("qr_scans")
    op.drop_index("ix_qr_codes_root_position", table_name="qr_codes")
    op.drop_table("qr_codes")
