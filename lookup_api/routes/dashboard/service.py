"""The dashboard's figures: one SQL query per chart over the projection tables.

No chart reads the ledger: the projections hold the current state (grades, violations,
inspections joined to their batch's port), so each figure is one grouped query however
long the log is.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select

from credit.catalogue import Policy
from ledger.records.tables import LIVE

VIOLATION_MONTHS = 24
INSPECTION_MONTHS = 12
TOP_PORTS = 4  # the ports with the most inspections get a line each
UNGRADED = ""  # the bar of enterprises not graded yet


@dataclass(frozen=True)
class PortTrend:
    port: str
    inspections: int
    shares: list[float | None]  # non-conformant share per month, None: no inspection


@dataclass(frozen=True)
class Figures:
    grades: list[tuple[str, int]]  # the active policy's grades, best first, then ungraded
    months: list[str]  # YYYY-MM, oldest first, for the violations
    violations: list[int]  # per month
    inspection_months: list[str]
    ports: list[PortTrend]


def last_months(today: dt.date, count: int) -> list[str]:
    """The ``count`` months up to and including today's, oldest first, as YYYY-MM."""
    year, month = today.year, today.month
    out: list[str] = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def grade_distribution(conn: Connection, policy: Policy) -> list[tuple[str, int]]:
    """Active enterprises per recorded grade, in the policy's order; grades of another
    policy are counted under their own name after it, ungraded ones last."""
    ent = LIVE["proj_enterprises"]
    rows = conn.execute(
        select(ent.c.grade, func.count()).where(ent.c.status == "active").group_by(ent.c.grade)
    ).all()
    counts = {(grade or UNGRADED): int(n) for grade, n in rows}
    order = [g.id for g in policy.grades]
    others = sorted(g for g in counts if g not in order and g != UNGRADED)
    return [(g, counts.get(g, 0)) for g in [*order, *others, UNGRADED]]


def violations_per_month(conn: Connection, months: list[str]) -> list[int]:
    """Unrevoked violations by the month they occurred in (officers see every severity)."""
    viol = LIVE["proj_violations"]
    month = func.substr(viol.c.occurred_on, 1, 7)
    rows = conn.execute(
        select(month, func.count())
        .where(viol.c.revoked_entry.is_(None), viol.c.occurred_on >= months[0] + "-01")
        .group_by(month)
    ).all()
    counts = {str(m): int(n) for m, n in rows}
    return [counts.get(m, 0) for m in months]


def non_conformity_by_port(conn: Connection, months: list[str]) -> list[PortTrend]:
    """Per port (the declaring batch's), the share of non-conformant inspection results
    in each month; the ports with the most inspections in the window, most first."""
    ins, bat = LIVE["proj_inspections"], LIVE["proj_batches"]
    month = func.substr(ins.c.inspected_on, 1, 7)
    failed = func.sum(case((ins.c.outcome == "non_conformant", 1), else_=0))
    rows = conn.execute(
        select(bat.c.port, month, func.count(), failed)
        .select_from(ins.join(bat, (bat.c.gtin == ins.c.gtin) & (bat.c.batch == ins.c.batch)))
        .where(ins.c.inspected_on >= months[0] + "-01", bat.c.port.is_not(None))
        .group_by(bat.c.port, month)
    ).all()
    per_port: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for port, m, total, bad in rows:
        per_port[str(port)][str(m)] = (int(total), int(bad or 0))
    totals = {port: sum(t for t, _ in by.values()) for port, by in per_port.items()}
    top = sorted(totals, key=lambda p: (-totals[p], p))[:TOP_PORTS]
    return [
        PortTrend(
            port,
            totals[port],
            [
                (per_port[port][m][1] / per_port[port][m][0]) if m in per_port[port] else None
                for m in months
            ],
        )
        for port in top
    ]


def figures(conn: Connection, policy: Policy, today: dt.date) -> Figures:
    months = last_months(today, VIOLATION_MONTHS)
    inspection_months = last_months(today, INSPECTION_MONTHS)
    return Figures(
        grades=grade_distribution(conn, policy),
        months=months,
        violations=violations_per_month(conn, months),
        inspection_months=inspection_months,
        ports=non_conformity_by_port(conn, inspection_months),
    )
