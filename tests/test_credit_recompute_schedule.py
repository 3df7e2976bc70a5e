"""The service recomputes grades at start only when overdue: a full recompute records the
China day it applied, and the start-up check runs one only when that day is before today
(or none ever ran)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from credit.regrade import credit_hooks
from ledger.records.entry import record_entry
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from lookup_api.auth import migrate as migrate_app
from lookup_api.credit_recomputes import (
    last_recompute,
    recompute_all,
    recompute_if_due,
    today_in_china,
)
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload


def _ledger(engine: Engine, signer: Signer) -> Ledger:
    migrate_app(engine)
    ledger = Ledger(engine, signer, ORIGIN, hooks=credit_hooks())
    # Filed ten days before its recording, in 2025: graded B then, A by today.
    filing = enterprise_payload(1, filed_on="2024-12-23")
    entry = record_entry("enterprise.filed", filing, "officer:test", "2025-01-02T02:00:00.000Z")
    assert not ledger.append([entry]).rejected
    return ledger


def test_a_recompute_runs_at_start_when_none_ran_and_records_its_day(
    engine: Engine, signer: Signer
) -> None:
    ledger = _ledger(engine, signer)
    assert last_recompute(engine) is None
    size = ledger.size()
    report = recompute_if_due(ledger)
    assert report is not None and report.enterprises == 1 and report.changed == 1
    assert ledger.size() == size + 1  # the grade time changed
    assert last_recompute(engine) == today_in_china()
    # Started again the same day: not due, nothing runs (not even an empty batch).
    checkpoint = ledger.latest_checkpoint()
    assert recompute_if_due(ledger) is None
    assert ledger.latest_checkpoint() == checkpoint


def test_a_recompute_runs_at_start_when_the_last_is_older_than_the_day(
    engine: Engine, signer: Signer
) -> None:
    ledger = _ledger(engine, signer)
    today = today_in_china()
    assert recompute_all(ledger).changed == 1
    assert recompute_if_due(ledger, today) is None
    # The next day (the service was down over midnight): due again, and recorded.
    tomorrow = today + dt.timedelta(days=1)
    report = recompute_if_due(ledger, tomorrow)
    assert report is not None and report.enterprises == 1 and report.changed == 0
    assert last_recompute(engine) == today  # the day it applied is the clock's, not asked
