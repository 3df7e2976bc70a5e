"""The codes' own tables, declared on the service's one ``MetaData``.

They are not projections: the ledger holds only each batch's ``serials_root``, so the
serials themselves are kept here, written before their ``codes.issued`` entry. A serial
is genuine only when the batch's projection names an entry with its ``serials_root``;
rows whose entry was never appended (a refused or interrupted issuance) resolve as
nothing. Scan counts are never in the ledger.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Table, Text

from ledger.store.schema import metadata

# Every issued serial: its batch, the root it was issued under and its place in the tree.
qr_codes = Table(
    "qr_codes",
    metadata,
    Column("serial", Text, primary_key=True),
    Column("gtin", Text, nullable=False),
    Column("batch", Text, nullable=False),
    Column("serials_root", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_qr_codes_root_position", qr_codes.c.serials_root, qr_codes.c.position, unique=True)

# Scans per code (the database fallback when no Redis is configured).
qr_scans = Table(
    "qr_scans",
    metadata,
    Column("serial", Text, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("first_scan", Text, nullable=False),
    Column("last_scan", Text, nullable=False),
    sqlite_with_rowid=False,
)
