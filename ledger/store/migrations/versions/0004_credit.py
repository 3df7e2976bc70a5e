"""Credit: the times a grading reads (when a grade was recorded, when a batch was
declared) and the index that finds an enterprise's declared batches.

Revision ID: 0004_credit
Revises: 0003_request_keys

Frozen: literal DDL. The new time columns are filled from the entries already stored,
so the upgraded projections equal a replay of the log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_credit"
down_revision = "0003_request_keys"
branch_labels = None
depends_on = None

# The envelope time of the entry at a projection row's index, per dialect.
TIME_OF_ENTRY = {
    "sqlite": "(SELECT json_extract(CAST(e.leaf_input AS TEXT), '$.time') "
    "FROM ledger_entries e WHERE e.idx = {column})",
    "postgresql": "(SELECT convert_from(e.leaf_input, 'UTF8')::json ->> 'time' "
    "FROM ledger_entries e WHERE e.idx = {column})",
}


def upgrade() -> None:
    time_of = TIME_OF_ENTRY[op.get_bind().dialect.name]
    op.add_column("proj_grades", sa.Column("graded_time", sa.Text(), nullable=True))
    op.execute(f"UPDATE proj_grades SET graded_time = {time_of.format(column='proj_grades.entry')}")
    op.add_column("proj_batches", sa.Column("declared_time", sa.Text(), nullable=True))
    op.execute(
        "UPDATE proj_batches SET declared_time = "
        f"{time_of.format(column='proj_batches.declared_entry')} "
        "WHERE declared_entry IS NOT NULL"
    )
    op.create_index("ix_proj_batches_declarant_uscc", "proj_batches", ["declarant_uscc"])


def downgrade() -> None:
    op.drop_index("ix_proj_batches_declarant_uscc", "proj_batches")
    with op.batch_alter_table("proj_batches") as batch:
        batch.drop_column("declared_time")
    with op.batch_alter_table("proj_grades") as batch:
        batch.drop_column("graded_time")
