"""Projections: current state derived from the ledger (rebuildable by replay).

Revision ID: 0002_projections
Revises: 0001_ledger

Frozen: literal DDL, as the projection tables were when this revision was made. The live
definitions (``ledger.records.tables``) may move on; every change is a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_projections"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

# On SQLite only INTEGER PRIMARY KEY is the row id itself; any other type adds an index.
entry_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

TABLES = (
    "proj_subject_entries",
    "proj_enterprises",
    "proj_products",
    "proj_batches",
    "proj_inspections",
    "proj_violations",
    "proj_complaints",
    "proj_sanctions",
    "proj_blacklist_events",
    "proj_recalls",
    "proj_code_batches",
    "proj_code_revocations",
    "proj_grades",
    "proj_repairs",
    "proj_draws",
)


def _entry_pk() -> sa.Column[int]:
    return sa.Column("entry", entry_type, primary_key=True, autoincrement=False)


def upgrade() -> None:
    op.create_table(
        "proj_subject_entries",
        sa.Column("subject", sa.Text(), primary_key=True),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "proj_enterprises",
        sa.Column("uscc", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("roles", sa.Text()),
        sa.Column("address", sa.Text()),
        sa.Column("country", sa.Text()),
        sa.Column("filed_on", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("filed_entry", sa.BigInteger()),
        sa.Column("updated_entry", sa.BigInteger(), nullable=False),
        sa.Column("revoked_entry", sa.BigInteger()),
        sa.Column("blacklist", sa.Text(), nullable=False),
        sa.Column("blacklist_entry", sa.BigInteger()),
        sa.Column("noticed_time", sa.Text()),
        sa.Column("grade", sa.Text()),
        sa.Column("score", sa.Integer()),
        sa.Column("graded_entry", sa.BigInteger()),
    )
    op.create_table(
        "proj_products",
        sa.Column("gtin", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("hs_code", sa.Text()),
        sa.Column("origin_country", sa.Text()),
        sa.Column("owner_uscc", sa.Text()),
        sa.Column("risk_class", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("filed_entry", sa.BigInteger()),
        sa.Column("revoked_entry", sa.BigInteger()),
    )
    op.create_index("ix_proj_products_owner_uscc", "proj_products", ["owner_uscc"])
    op.create_table(
        "proj_batches",
        sa.Column("gtin", sa.Text(), primary_key=True),
        sa.Column("batch", sa.Text(), primary_key=True),
        sa.Column("quantity", sa.BigInteger()),
        sa.Column("produced_on", sa.Text()),
        sa.Column("expires_on", sa.Text()),
        sa.Column("port", sa.Text()),
        sa.Column("declaration_no", sa.Text()),
        sa.Column("declarant_uscc", sa.Text()),
        sa.Column("declared_entry", sa.BigInteger()),
        sa.Column("outcome", sa.Text()),
        sa.Column("inspected_on", sa.Text()),
        sa.Column("inspection_entry", sa.BigInteger()),
        sa.Column("codes", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "proj_inspections",
        _entry_pk(),
        sa.Column("gtin", sa.Text(), nullable=False),
        sa.Column("batch", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("inspected_on", sa.Text(), nullable=False),
        sa.Column("body_uscc", sa.Text()),
        sa.Column("accepted_third_party", sa.Boolean(), nullable=False),
        sa.Column("items", sa.Text()),
    )
    op.create_index("ix_proj_inspections_batch", "proj_inspections", ["gtin", "batch"])
    op.create_table(
        "proj_violations",
        _entry_pk(),
        sa.Column("uscc", sa.Text(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("occurred_on", sa.Text(), nullable=False),
        sa.Column("case_no", sa.Text(), nullable=False),
        sa.Column("fine_fen", sa.BigInteger()),
        sa.Column("basis", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("revoked_entry", sa.BigInteger()),
        sa.Column("revoked_reason", sa.Text()),
    )
    op.create_index("ix_proj_violations_uscc", "proj_violations", ["uscc"])
    op.create_table(
        "proj_complaints",
        _entry_pk(),
        sa.Column("uscc", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("gtin", sa.Text()),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("verified_entry", sa.BigInteger()),
    )
    op.create_index("ix_proj_complaints_uscc", "proj_complaints", ["uscc"])
    op.create_table(
        "proj_sanctions",
        _entry_pk(),
        sa.Column("uscc", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("on_date", sa.Text(), nullable=False),
    )
    op.create_index("ix_proj_sanctions_uscc", "proj_sanctions", ["uscc"])
    op.create_table(
        "proj_blacklist_events",
        _entry_pk(),
        sa.Column("uscc", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text()),
        sa.Column("time", sa.Text(), nullable=False),
    )
    op.create_index("ix_proj_blacklist_events_uscc", "proj_blacklist_events", ["uscc"])
    op.create_table(
        "proj_recalls",
        _entry_pk(),
        sa.Column("gtin", sa.Text(), nullable=False),
        sa.Column("batches", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_on", sa.Text(), nullable=False),
        sa.Column("closed_entry", sa.BigInteger()),
    )
    op.create_index("ix_proj_recalls_gtin", "proj_recalls", ["gtin"])
    op.create_table(
        "proj_code_batches",
        _entry_pk(),
        sa.Column("gtin", sa.Text(), nullable=False),
        sa.Column("batch", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("serials_root", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
    )
    op.create_index("ix_proj_code_batches_batch", "proj_code_batches", ["gtin", "batch"])
    op.create_table(
        "proj_code_revocations",
        _entry_pk(),
        sa.Column("gtin", sa.Text(), nullable=False),
        sa.Column("batch", sa.Text(), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_proj_code_revocations_batch", "proj_code_revocations", ["gtin", "batch"])
    op.create_table(
        "proj_grades",
        _entry_pk(),
        sa.Column("uscc", sa.Text(), nullable=False),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("as_of_size", sa.BigInteger(), nullable=False),
        sa.Column("reasons_digest", sa.Text(), nullable=False),
    )
    op.create_index("ix_proj_grades_uscc", "proj_grades", ["uscc"])
    op.create_table(
        "proj_repairs",
        _entry_pk(),
        sa.Column("uscc", sa.Text(), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("decided_entry", sa.BigInteger()),
        sa.Column("approved", sa.Boolean()),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_proj_repairs_uscc", "proj_repairs", ["uscc"])
    op.create_table(
        "proj_draws",
        _entry_pk(),
        sa.Column("draw_id", sa.Text(), nullable=False, unique=True),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("seed_size", sa.BigInteger(), nullable=False),
        sa.Column("picks", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
