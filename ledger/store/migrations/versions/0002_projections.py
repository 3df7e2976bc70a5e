"""Projections: current state derived from the ledger (rebuildable by replay).

Revision ID: 0002_projections
Revises: 0001_ledger
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import MetaData

from ledger.records.tables import _tables

revision = "0002_projections"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first version of the projection tables; later changes come as new revisions.
    meta = MetaData()
    _tables(meta)
    meta.create_all(op.get_bind())


def downgrade() -> None:
    meta = MetaData()
    _tables(meta)
    meta.drop_all(op.get_bind())
