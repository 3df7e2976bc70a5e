"""When the grades last had the passage of time applied, and applying it when overdue.

``credtrace credit recompute`` (every enterprise) records the China day it applied in
``credit_recomputes``; the service, at start and after each midnight in China, runs one
only when the last recorded day is before today (``recompute_if_due``). A recompute of
some enterprises only is not recorded: the others are still due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine, delete, func, insert, select

from credit.recompute import RecomputeReport, recompute
from ledger.records.kinds import CHINA
from ledger.store.engine import read_transaction, write_transaction
from ledger.store.log import Ledger
from ledger.tlog.envelope import now_time
from lookup_api.schema import credit_recomputes


def today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()


def last_recompute(engine: Engine) -> dt.date | None:
    """The latest day a full recompute applied, if one ever ran."""
    with read_transaction(engine) as conn:
        day = conn.execute(select(func.max(credit_recomputes.c.day))).scalar()
    return None if day is None else dt.date.fromisoformat(day)


def record_recompute(engine: Engine, day: dt.date, report: RecomputeReport) -> None:
    """Note that a full recompute applied ``day`` (a second one that day replaces it)."""
    with write_transaction(engine) as conn:
        conn.execute(delete(credit_recomputes).where(credit_recomputes.c.day == day.isoformat()))
        conn.execute(
            insert(credit_recomputes).values(
                day=day.isoformat(),
                finished_at=now_time(),
                enterprises=report.enterprises,
                changed=report.changed,
            )
        )


def recompute_all(
    ledger: Ledger, progress: Callable[[int], object] | None = None
) -> RecomputeReport:
    """Regrade every active enterprise as of now and record the day it applied."""
    day = today_in_china()
    report = recompute(ledger, progress=progress)
    record_recompute(ledger.engine, day, report)
    return report


def recompute_if_due(ledger: Ledger, today: dt.date | None = None) -> RecomputeReport | None:
    """A full recompute when none has applied ``today`` (China) yet; None when not due."""
    last = last_recompute(ledger.engine)
    if last is not None and last >= (today or today_in_china()):
        return None
    return recompute_all(ledger)
