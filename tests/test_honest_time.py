"""The log's clock cannot be forged: entry times never decrease and never lie in the future
beyond MAX_CLOCK_SKEW; a historical import states its range and stays monotonic."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import ledger.store.clock as clock_module
from credit.catalogue import violation_item_check
from ledger.records.entry import record_entry
from ledger.records.projector import Projector
from ledger.store.clock import MAX_CLOCK_SKEW, historical_range
from ledger.store.log import Ledger
from ledger.tlog.envelope import format_time, parse_envelope
from ledger.tlog.note import Signer
from lookup_api.bulk.importer import ImportRefused, import_records
from lookup_api.cli import main
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload

OFFICER = "officer:test"


@pytest.fixture
def projected(engine: Engine, signer: Signer) -> Ledger:
    return Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])


def _at(delta: dt.timedelta) -> str:
    return format_time(dt.datetime.now(dt.UTC) + delta)


def _payload(n: int) -> dict[str, Any]:
    return enterprise_payload(n, filed_on="2015-01-01")  # before every time used here


def _filed(n: int, time: str | None = None) -> Any:
    return record_entry("enterprise.filed", _payload(n), OFFICER, time)


def _times(ledger: Ledger) -> list[str]:
    return [parse_envelope(e.leaf_input).time for e in ledger.entries(0, ledger.size())]


def test_a_time_in_the_future_beyond_the_skew_is_refused(projected: Ledger) -> None:
    result = projected.append([_filed(1, _at(MAX_CLOCK_SKEW + dt.timedelta(seconds=5)))])
    assert result.rejected[0].field == "time" and "in the future" in str(result.rejected[0])
    result = projected.append([_filed(1, "2099-01-01T00:00:00.000Z")])
    assert result.rejected[0].field == "time"
    assert projected.size() == 0
    within = _at(MAX_CLOCK_SKEW - dt.timedelta(seconds=30))
    assert not projected.append([_filed(1, within)]).rejected


def test_a_time_before_the_last_entry_is_refused_and_an_equal_one_taken(projected: Ledger) -> None:
    first = "2025-06-01T02:00:00.000Z"
    assert not projected.append([_filed(1, first)]).rejected
    result = projected.append([_filed(2, "2019-06-01T02:00:00.000Z")])
    why = str(result.rejected[0])
    assert result.rejected[0].field == "time"
    assert f"is before {first}" in why and "never decrease" in why
    # Within one batch too, and from another process's Ledger (no cached head).
    again = Ledger(projected.engine, projected.signer, ORIGIN, hooks=[Projector()])
    result = again.append([_filed(2, first), _filed(3, "2025-05-31T23:59:59.999Z")])
    assert list(result.rejected) == [1] and result.rejected[1].field == "time"
    assert _times(again) == [first, first]


def test_stamped_times_follow_the_last_entry_when_the_clock_runs_backwards(
    projected: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ahead = _at(MAX_CLOCK_SKEW - dt.timedelta(seconds=60))  # another writer's fast clock
    assert not projected.append([_filed(1, ahead), _filed(2)]).rejected
    monkeypatch.setattr(clock_module, "now_time", lambda: "2020-01-01T00:00:00.000Z")
    assert not projected.append([_filed(3)]).rejected
    fresh = Ledger(projected.engine, projected.signer, ORIGIN, hooks=[Projector()])
    assert not fresh.append([_filed(4)]).rejected
    assert _times(projected) == [ahead] * 4  # never the clock's earlier reading
    monkeypatch.undo()
    assert not projected.append([_filed(5)]).rejected
    times = _times(projected)
    assert times == sorted(times)


def _lines(path: Path, times: list[str | None]) -> Path:
    rows = []
    for n, time in enumerate(times, start=1):
        row: dict[str, Any] = {"kind": "enterprise.filed", "payload": _payload(n)}
        if time is not None:
            row["time"] = time
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_ordinary_import_refuses_a_line_that_gives_its_own_time(
    projected: Ledger, tmp_path: Path
) -> None:
    source = _lines(
        tmp_path / "forged.jsonl",
        ["2099-01-01T00:00:00.000Z", "2019-01-01T00:00:00.000Z", None],
    )
    report = import_records(projected, source)
    assert (report.imported, report.rejected) == (1, 2)
    assert {r.field for r in report.examples} == {"time"}
    assert all("--historical" in r.reason for r in report.examples)
    assert parse_envelope(projected.entries(0, 1)[0].leaf_input).time >= _at(-dt.timedelta(1))


def test_a_historical_import_stays_in_its_range_and_never_goes_back(
    projected: Ledger, tmp_path: Path
) -> None:
    times = [
        "2019-03-01T02:00:00.000Z",  # 1
        "2019-05-01T02:00:00.000Z",  # 2
        "2019-04-01T02:00:00.000Z",  # 3 before line 2
        None,  # 4 no time
        "2020-02-01T02:00:00.000Z",  # 5 outside the range
        "2019-05-01T02:00:00.000Z",  # 6 equal to line 2
        "2019-12-31T23:00:00.000Z",  # 7
    ]
    source = _lines(tmp_path / "history.jsonl", times)
    report = import_records(
        projected, source, historical=historical_range("2019-01-01..2019-12-31")
    )
    assert (report.imported, report.rejected) == (4, 3)
    by_line = {r.line: r for r in report.examples}
    assert set(by_line) == {3, 4, 5} and {r.field for r in by_line.values()} == {"time"}
    assert "is before 2019-05-01T02:00:00.000Z" in by_line[3].reason
    assert "gives every line its time" in by_line[4].reason
    assert "outside the historical range" in by_line[5].reason
    assert _times(projected) == [times[0], times[1], times[5], times[6]]
    # A second migration may not start before the history already in the log.
    with pytest.raises(ImportRefused, match=re.escape("before 2019-12-31T23:00:00.000Z")):
        import_records(projected, source, historical=historical_range("2019-06-01..2019-12-31"))


@pytest.mark.parametrize(
    "value",
    ["2019-01-01..2099-12-31", "2019-12-31..2019-01-01", "2019", "2019-02-30..2019-03-01", ""],
)
def test_a_bad_historical_range_is_a_usage_error(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _lines(tmp_path / "any.jsonl", [None])
    with pytest.raises(SystemExit) as exited:
        main(["import", str(source), "--historical", value])
    assert exited.value.code == 2
    assert "--historical" in capsys.readouterr().err
