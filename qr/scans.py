"""Scan counters in the database (when no Redis is configured): one atomic upsert a view.

Counts are never in the ledger: they are observations, not facts anyone signed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ledger.store.sql import placeholders

_COUNT = (
    "INSERT INTO qr_scans (serial, count, first_scan, last_scan) VALUES (?, 1, ?, ?) "
    "ON CONFLICT (serial) DO UPDATE SET count = qr_scans.count + 1, "
    "last_scan = excluded.last_scan RETURNING count, first_scan"
)


@dataclass(frozen=True)
class ScanCount:
    count: int  # this scan included
    first_scan: str  # UTC, as envelope times are written


def count_scan(engine: Engine, serial: str, now: str) -> ScanCount:
    """Count one scan of ``serial`` at ``now``; one statement, one round trip."""
    with engine.begin() as conn:
        row = conn.exec_driver_sql(placeholders(conn, _COUNT), (serial, now, now)).one()
    return ScanCount(int(row[0]), str(row[1]))
