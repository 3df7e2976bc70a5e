"""``credtrace credit``: policies, explain/grade with reasons, recompute and verify, run
in-process against a real database, with --json and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.records.entry import record_entry
from lookup_api.cli import main
from lookup_api.settings import Settings
from lookup_api.wiring import open_ledger
from tests.factories import enterprise_payload, uscc

A = uscc(1)


@pytest.fixture
def credit_cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    monkeypatch.setenv("CREDTRACE_DATABASE_URL", db_url)
    monkeypatch.setenv("CREDTRACE_KEY_FILE", str(tmp_path / "ledger.key"))
    ledger = open_ledger(Settings.from_env())
    t = "2026-01-02T02:00:00.000Z"
    filed = record_entry(
        "enterprise.filed", enterprise_payload(1, filed_on="2020-01-01"), "officer:test", t
    )
    found = {
        "uscc": A,
        "item": "ciq.evade-inspection",
        "occurred_on": "2026-01-01",
        "case_no": "C1",
    }
    assert not ledger.append(
        [filed, record_entry("violation.recorded", found, "officer:test", t)]
    ).rejected
    ledger.engine.dispose()

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def test_policies_lists_both(credit_cli: Any) -> None:
    status, out, _ = credit_cli("credit", "policies", "--json")
    assert status == 0
    listed = {p["id"]: p for p in json.loads(out)["policies"]}
    assert listed["cn-ciq-2014"]["default"] and listed["cn-ciq-2014"]["grades"] == [
        "AA",
        "A",
        "B",
        "C",
        "D",
    ]
    assert listed["cn-gacc-2026"]["grades"][0] == "advanced"


def test_explain_shows_grade_measures_and_a_reasons_table(credit_cli: Any) -> None:
    status, out, _ = credit_cli("credit", "explain", A, "--as-of", "2026-03-01")
    assert status == 0
    assert f"{A}: grade B" in out and "score 6" in out and "inspection 20 %" in out
    assert "ciq.evade-inspection  6       2025-03-02..2026-03-01  1" in out
    status, out, _ = credit_cli("credit", "grade", A, "--as-of", "2027-01-01", "--json")
    body = json.loads(out)
    assert status == 0 and body["grade"] == "A" and body["score"] == 0  # left the cycle
    assert [h["grade"] for h in body["history"]] == ["B"]
    status, out, _ = credit_cli(
        "credit", "explain", A, "--policy", "cn-gacc-2026", "--as-of", "2026-03-01", "--json"
    )
    assert json.loads(out)["grade"] == "routine"


def test_recompute_then_verify(credit_cli: Any) -> None:
    status, out, _ = credit_cli("credit", "recompute", "--json")
    assert status == 0 and json.loads(out)["enterprises"] == 1
    status, out, _ = credit_cli("credit", "verify", "--all", "--json")
    assert status == 0 and json.loads(out)["ok"] and json.loads(out)["checked"] >= 1
    status, out, _ = credit_cli("credit", "verify", A)
    assert status == 0 and out.startswith("OK: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("credit", "explain", uscc(2)), "is not filed"),
        (("credit", "explain", A, "--policy", "cn-none"), "cn-none.toml: id: no such policy"),
        (("credit", "verify"), "name an enterprise (USCC) or give --all"),
        (
            ("credit", "explain", A, "--policy", "cn-gacc-2026", "--as-of", "2025-12-31"),
            "cn-gacc-2026 is in effect from 2026-01-01, not on 2025-12-31",
        ),
    ],
)
def test_bad_requests_say_what_is_wrong(
    credit_cli: Any, args: tuple[str, ...], message: str
) -> None:
    status, _, err = credit_cli(*args)
    assert status == 2 and message in err


def test_a_malformed_uscc_or_date_is_a_usage_error(credit_cli: Any) -> None:
    for args in (("credit", "explain", "123"), ("credit", "explain", A, "--as-of", "2026-13-01")):
        with pytest.raises(SystemExit) as exited:
            credit_cli(*args)
        assert exited.value.code == 2


def test_draw_make_and_verify(credit_cli: Any) -> None:
    status, out, _ = credit_cli(
        "draw", "make", "--count", "1", "--actor", "operator:test", "--json"
    )
    assert status == 0, out
    made = json.loads(out)
    assert made["population"] == 1 and made["picks"] == [A]
    assert made["request"] < made["entry"] and made["policy"] == "cn-ciq-2014"
    status, out, _ = credit_cli("draw", "verify", made["draw_id"])
    assert status == 0 and out.startswith(f"OK: draw {made['draw_id']}")
    status, _, err = credit_cli("draw", "make", "--count", "2")
    assert status == 2 and "count must be 1 to 1" in err
    status, _, err = credit_cli("draw", "verify", "0123456789abcdef")
    assert status == 2 and "no draw 0123456789abcdef is recorded" in err


def test_decide_names_what_is_missing(credit_cli: Any) -> None:
    status, _, err = credit_cli("decide", "06901234567892", "B1")
    assert status == 2 and "batch B1 of 06901234567892 is not declared" in err
    status, _, err = credit_cli("decide", "06901234567893", "B1")
    assert status == 2 and "gtin:" in err


def test_proposals_lists_none_for_a_b_enterprise(credit_cli: Any) -> None:
    status, out, _ = credit_cli("credit", "proposals")
    assert status == 0 and out.strip() == "no enterprise is proposed for the blacklist"
    status, out, _ = credit_cli("credit", "proposals", "--json")
    assert json.loads(out) == {"proposals": []}


def test_a_scoped_draw_from_the_command_line(credit_cli: Any) -> None:
    args = ("draw", "make", "--count", "1", "--grade", "B", "--roster", "li,wang")
    status, _, err = credit_cli(*args, "--actor", "operator:test")
    assert status == 2 and "--roster needs --inspectors N" in err
    status, out, _ = credit_cli(
        *args, "--inspectors", "2", "--id", "cli-1", "--actor", "operator:test", "--json"
    )
    assert status == 0, out
    made = json.loads(out)
    assert made["draw_id"] == "cli-1" and sorted(made["inspectors"]) == ["li", "wang"]
    status, out, _ = credit_cli("draw", "verify", "cli-1")
    assert status == 0 and out.startswith("OK: draw cli-1")
