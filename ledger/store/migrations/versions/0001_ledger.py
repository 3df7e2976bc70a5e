# ruff: noqa: E501  (SQL trigger bodies read best unwrapped)
"""The ledger: entries, tiles, checkpoints, redactions, leaf index; append-only triggers.

Revision ID: 0001_ledger
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

index_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_TRIGGERS = [
    """CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only: DELETE refused'); END""",
    """CREATE TRIGGER ledger_entries_redact_only BEFORE UPDATE ON ledger_entries
    WHEN NOT (NEW.idx IS OLD.idx AND NEW.leaf_input IS OLD.leaf_input
              AND NEW.salt IS NULL AND NEW.payload IS NULL
              AND EXISTS (SELECT 1 FROM ledger_redactions r WHERE r.target = OLD.idx))
    BEGIN SELECT RAISE(ABORT,
        'ledger_entries is append-only: UPDATE refused (only a recorded redaction may clear a payload)');
    END""",
    """CREATE TRIGGER ledger_tiles_no_delete BEFORE DELETE ON ledger_tiles
    BEGIN SELECT RAISE(ABORT, 'ledger_tiles is append-only: DELETE refused'); END""",
    """CREATE TRIGGER ledger_tiles_grow_only BEFORE UPDATE ON ledger_tiles
    WHEN NOT (NEW.level IS OLD.level AND NEW.idx IS OLD.idx
              AND length(NEW.hashes) >= length(OLD.hashes)
              AND substr(NEW.hashes, 1, length(OLD.hashes)) = OLD.hashes)
    BEGIN SELECT RAISE(ABORT, 'ledger_tiles may only grow: UPDATE refused'); END""",
]
for _table in ("ledger_checkpoints", "ledger_redactions", "ledger_meta"):
    SQLITE_TRIGGERS += [
        f"""CREATE TRIGGER {_table}_no_delete BEFORE DELETE ON {_table}
        BEGIN SELECT RAISE(ABORT, '{_table} is append-only: DELETE refused'); END""",
        f"""CREATE TRIGGER {_table}_no_update BEFORE UPDATE ON {_table}
        BEGIN SELECT RAISE(ABORT, '{_table} is append-only: UPDATE refused'); END""",
    ]

POSTGRES_FUNCTIONS = [
    """CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    """CREATE FUNCTION ledger_entries_redact_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.idx IS DISTINCT FROM OLD.idx OR NEW.leaf_input IS DISTINCT FROM OLD.leaf_input
           OR NEW.salt IS NOT NULL OR NEW.payload IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM ledger_redactions r WHERE r.target = OLD.idx) THEN
            RAISE EXCEPTION 'ledger_entries is append-only: UPDATE refused (only a recorded redaction may clear a payload)'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE FUNCTION ledger_tiles_grow_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.level IS DISTINCT FROM OLD.level OR NEW.idx IS DISTINCT FROM OLD.idx
           OR length(NEW.hashes) < length(OLD.hashes)
           OR substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) <> OLD.hashes THEN
            RAISE EXCEPTION 'ledger_tiles may only grow: UPDATE refused'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$""",
]
POSTGRES_TRIGGERS = [
    "CREATE TRIGGER ledger_entries_redact_only BEFORE UPDATE ON ledger_entries "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entries_redact_only()",
    "CREATE TRIGGER ledger_tiles_grow_only BEFORE UPDATE ON ledger_tiles "
    "FOR EACH ROW EXECUTE FUNCTION ledger_tiles_grow_only()",
]
for _table in (
    "ledger_entries",
    "ledger_tiles",
    "ledger_checkpoints",
    "ledger_redactions",
    "ledger_meta",
):
    POSTGRES_TRIGGERS += [
        f"CREATE TRIGGER {_table}_no_delete BEFORE DELETE ON {_table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse()",
        f"CREATE TRIGGER {_table}_no_truncate BEFORE TRUNCATE ON {_table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse()",
    ]
for _table in ("ledger_checkpoints", "ledger_redactions", "ledger_meta"):
    POSTGRES_TRIGGERS.append(
        f"CREATE TRIGGER {_table}_no_update BEFORE UPDATE ON {_table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse()"
    )


def upgrade() -> None:
    op.create_table(
        "ledger_meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idx", index_type, primary_key=True, autoincrement=False),
        sa.Column("leaf_input", sa.LargeBinary(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "ledger_tiles",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", index_type, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_table(
        "ledger_redactions",
        sa.Column("target", index_type, primary_key=True, autoincrement=False),
        sa.Column("entry", sa.BigInteger(), nullable=False, unique=True),
    )
    op.create_table(
        "ledger_leaf_index",
        sa.Column("prefix", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_progress",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("upto", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO ledger_progress (name, upto) VALUES ('leaf_index', 0)")
    op.create_table(
        "ledger_lock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    )
    op.execute("INSERT INTO ledger_lock (id) VALUES (1)")
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_FUNCTIONS + POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    # The ledger is append-only; there is no way back from its first migration.
    raise RuntimeError("the ledger schema cannot be downgraded")
