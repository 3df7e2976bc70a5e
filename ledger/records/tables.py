"""Projection tables: the current state, derived from the ledger and rebuildable from it.

Every row belongs to exactly one subject (``uscc:``, ``gtin:``, ``batch:``,
``draw:``), and an entry only ever changes rows of its own subject. That is
what lets a redaction rebuild just the subject it touches.

The live tables are declared on the service's one ``MetaData`` (``ledger.store.schema``),
which the migrations are checked against; ``fresh_tables`` declares a prefixed copy for
a replay. Changing a live table here needs a new Alembic revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, Table, Text

from ledger.store.schema import metadata

# On SQLite only INTEGER PRIMARY KEY is the row id itself; any other type adds an index.
_ENTRY_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def _entry_pk() -> Column[int]:
    return Column("entry", _ENTRY_TYPE, primary_key=True, autoincrement=False)


def _tables(meta: MetaData, prefix: str = "") -> dict[str, Table]:
    p = prefix
    tables = [
        # The entries of each subject that leave no row of their own (see ENTRY_COLUMN).
        Table(
            f"{p}proj_subject_entries",
            meta,
            Column("subject", Text, primary_key=True),
            Column("idx", BigInteger, primary_key=True, autoincrement=False),
            Column("kind", Text, nullable=False),
            sqlite_with_rowid=False,
        ),
        Table(
            f"{p}proj_enterprises",
            meta,
            Column("uscc", Text, primary_key=True),
            Column("name", Text),
            Column("roles", Text),
            Column("address", Text),
            Column("country", Text),
            Column("filed_on", Text),
            Column("status", Text, nullable=False),  # active, revoked
            Column("filed_entry", BigInteger),
            Column("updated_entry", BigInteger, nullable=False),
            Column("revoked_entry", BigInteger),
            Column("blacklist", Text, nullable=False),  # none, noticed, listed
            Column("blacklist_entry", BigInteger),
            Column("noticed_time", Text),
            Column("grade", Text),
            Column("score", Integer),
            Column("graded_entry", BigInteger),
        ),
        Table(
            f"{p}proj_products",
            meta,
            Column("gtin", Text, primary_key=True),
            Column("name", Text),
            Column("hs_code", Text),
            Column("origin_country", Text),
            Column("owner_uscc", Text, index=True),
            Column("risk_class", Text),
            Column("status", Text, nullable=False),
            Column("filed_entry", BigInteger),
            Column("revoked_entry", BigInteger),
        ),
        Table(
            f"{p}proj_batches",
            meta,
            Column("gtin", Text, primary_key=True),
            Column("batch", Text, primary_key=True),
            Column("quantity", BigInteger),
            Column("produced_on", Text),
            Column("expires_on", Text),
            Column("port", Text),
            Column("declaration_no", Text),
            Column("declarant_uscc", Text, index=True),
            Column("declared_entry", BigInteger),
            Column("outcome", Text),
            Column("inspected_on", Text),
            Column("inspection_entry", BigInteger),
            Column("codes", BigInteger, nullable=False),  # traceability codes issued so far
            Column("declared_time", Text),  # the declaration entry's time
        ),
        Table(
            f"{p}proj_inspections",
            meta,
            _entry_pk(),
            Column("gtin", Text, nullable=False),
            Column("batch", Text, nullable=False),
            Column("outcome", Text, nullable=False),
            Column("inspected_on", Text, nullable=False),
            Column("body_uscc", Text),
            Column("accepted_third_party", Boolean, nullable=False),
            Column("items", Text),
        ),
        Table(
            f"{p}proj_violations",
            meta,
            _entry_pk(),
            Column("uscc", Text, nullable=False, index=True),
            Column("item", Text, nullable=False),
            Column("occurred_on", Text, nullable=False),
            Column("case_no", Text, nullable=False),
            Column("fine_fen", BigInteger),
            Column("basis", Text),
            Column("note", Text),
            Column("revoked_entry", BigInteger),
            Column("revoked_reason", Text),
        ),
        Table(
            f"{p}proj_complaints",
            meta,
            _entry_pk(),
            Column("uscc", Text, nullable=False, index=True),
            Column("channel", Text, nullable=False),
            Column("gtin", Text),
            Column("summary", Text, nullable=False),
            Column("verified_entry", BigInteger),
        ),
        Table(
            f"{p}proj_sanctions",
            meta,
            _entry_pk(),
            Column("uscc", Text, nullable=False, index=True),
            Column("kind", Text, nullable=False),
            Column("reason", Text, nullable=False),
            Column("on_date", Text, nullable=False),
        ),
        Table(
            f"{p}proj_blacklist_events",
            meta,
            _entry_pk(),
            Column("uscc", Text, nullable=False, index=True),
            Column("event", Text, nullable=False),
            Column("reason", Text, nullable=False),
            Column("basis", Text),
            Column("time", Text, nullable=False),
        ),
        Table(
            f"{p}proj_recalls",
            meta,
            _entry_pk(),
            Column("gtin", Text, nullable=False, index=True),
            Column("batches", Text, nullable=False),
            Column("reason", Text, nullable=False),
            Column("issued_on", Text, nullable=False),
            Column("closed_entry", BigInteger),
        ),
        Table(
            f"{p}proj_code_batches",
            meta,
            _entry_pk(),
            Column("gtin", Text, nullable=False),
            Column("batch", Text, nullable=False),
            Column("count", BigInteger, nullable=False),
            Column("serials_root", Text, nullable=False),
            Column("key_id", Text, nullable=False),
        ),
        Table(
            f"{p}proj_code_revocations",
            meta,
            _entry_pk(),
            Column("gtin", Text, nullable=False),
            Column("batch", Text, nullable=False),
            Column("serials", Text, nullable=False),
            Column("reason", Text, nullable=False),
        ),
        Table(
            f"{p}proj_grades",
            meta,
            _entry_pk(),
            Column("uscc", Text, nullable=False, index=True),
            Column("grade", Text, nullable=False),
            Column("score", Integer, nullable=False),
            Column("policy", Text, nullable=False),
            Column("as_of_size", BigInteger, nullable=False),
            Column("reasons_digest", Text, nullable=False),
            Column("graded_time", Text),  # the entry's time: when the grade began
        ),
        Table(
            f"{p}proj_repairs",
            meta,
            _entry_pk(),
            Column("uscc", Text, nullable=False, index=True),
            Column("grounds", Text, nullable=False),
            Column("decided_entry", BigInteger),
            Column("approved", Boolean),
            Column("note", Text),
        ),
        Table(
            f"{p}proj_draws",
            meta,
            _entry_pk(),
            Column("draw_id", Text, nullable=False, unique=True),
            Column("population", BigInteger, nullable=False),
            Column("count", BigInteger, nullable=False),
            Column("seed_size", BigInteger, nullable=False),
            Column("picks", Text, nullable=False),
        ),
    ]
    # Inspections, code batches and revocations are looked up by batch.
    for table in tables:
        if table.name.endswith(("proj_inspections", "proj_code_batches", "proj_code_revocations")):
            Index(f"ix_{table.name}_batch", table.c.gtin, table.c.batch)  # binds to the table
    if not prefix:  # the officers' search by name (a replay's copy is never searched)
        enterprises = next(t for t in tables if t.name == "proj_enterprises")
        Index(
            "ix_proj_enterprises_name_search",
            enterprises.c.name,
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )
        Index(  # the PostgreSQL collation's own B-tree serves no LIKE 'prefix%'
            "ix_proj_enterprises_uscc_search",
            enterprises.c.uscc,
            postgresql_ops={"uscc": "text_pattern_ops"},
        )
    return {table.name.removeprefix(prefix): table for table in tables}


@dataclass(frozen=True)
class Tables:
    """One set of projection tables: the live ones, or a fresh set being rebuilt."""

    by_name: dict[str, Table]
    prefix: str = ""

    def __getitem__(self, name: str) -> Table:
        return self.by_name[name]

    def names(self) -> list[str]:
        return list(self.by_name)


LIVE = Tables(_tables(metadata))


def fresh_tables(prefix: str) -> tuple[MetaData, Tables]:
    meta = MetaData()
    return meta, Tables(_tables(meta, prefix), prefix)


# Which subject owns a row of each table: (subject prefix, key columns).
OWNER: dict[str, tuple[str, tuple[str, ...]]] = {
    "proj_enterprises": ("uscc", ("uscc",)),
    "proj_violations": ("uscc", ("uscc",)),
    "proj_complaints": ("uscc", ("uscc",)),
    "proj_sanctions": ("uscc", ("uscc",)),
    "proj_blacklist_events": ("uscc", ("uscc",)),
    "proj_grades": ("uscc", ("uscc",)),
    "proj_repairs": ("uscc", ("uscc",)),
    "proj_products": ("gtin", ("gtin",)),
    "proj_recalls": ("gtin", ("gtin",)),
    "proj_batches": ("batch", ("gtin", "batch")),
    "proj_inspections": ("batch", ("gtin", "batch")),
    "proj_code_batches": ("batch", ("gtin", "batch")),
    "proj_code_revocations": ("batch", ("gtin", "batch")),
    "proj_draws": ("draw", ("draw_id",)),
}


# The column of each table that names the entry which created the row. Together with
# proj_subject_entries they find every entry of a subject, for a rebuild after a redaction.
ENTRY_COLUMN: dict[str, str] = {name: "entry" for name in OWNER} | {
    "proj_enterprises": "filed_entry",
    "proj_products": "filed_entry",
    "proj_batches": "declared_entry",
}


def subject_keys(subject: str) -> tuple[str, tuple[str, ...]]:
    """``batch:0690…/B1`` -> ("batch", ("0690…", "B1"))."""
    family, _, rest = subject.partition(":")
    if family == "batch":
        gtin, _, batch = rest.partition("/")
        return family, (gtin, batch)
    return family, (rest,)
