"""credtrace import reads every line with the API's strict JSON reader: a line nested too
deep, with duplicate keys, a huge field or no end is reported as refused (line number,
reason, its quoted start) and the import goes on with the other lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from credit.catalogue import violation_item_check
from ledger.records.json_input import MAX_DEPTH, MAX_STRING
from ledger.records.projector import Projector
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from lookup_api.bulk.importer import import_records
from lookup_api.bulk.pipeline import MAX_LINE, QUOTE_LIMIT
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload


@pytest.fixture
def projected(engine: Engine, signer: Signer) -> Ledger:
    return Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])


def _line(n: int) -> str:
    return json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(n)})


def test_hostile_lines_are_refused_one_by_one_and_the_import_goes_on(
    projected: Ledger, tmp_path: Path
) -> None:
    payload = json.dumps(enterprise_payload(3), ensure_ascii=False)
    lines = [
        _line(1),  # 1
        '{"kind": "enterprise.filed", "payload": ' + "[" * 1000 + "]" * 1000 + "}",  # 2
        '{"kind": "product.filed", "kind": "enterprise.filed", "payload": ' + payload + "}",  # 3
        '{"kind": "enterprise.filed", "payload": ' + payload[:-1] + ', "name": "别名"}}',  # 4
        json.dumps(
            {"kind": "enterprise.filed", "payload": enterprise_payload(4, name="x" * 100_000)}
        ),  # 5
        '{"kind": "enterprise.filed", "payload": {"uscc": "' + "9" * (2 * MAX_LINE) + '"}}',  # 6
        '{"kind": "enterprise.filed", "payload": ' + "{" * 200 + "}" * 200 + "}",  # 7
        _line(2),  # 8
    ]
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "rejected.jsonl"
    with out.open("w", encoding="utf-8") as report_to:
        report = import_records(projected, source, report_to=report_to)
    assert (report.lines, report.imported, report.rejected) == (8, 2, 6)
    assert projected.size() == 2
    refused = {r["line"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(refused) == {2, 3, 4, 5, 6, 7}
    assert f"nested deeper than {MAX_DEPTH}" in refused[2]["reason"]
    assert "nested deeper than" in refused[7]["reason"]
    assert "duplicate key 'kind'" in refused[3]["reason"]
    assert "duplicate key 'name'" in refused[4]["reason"]
    assert f"exceeds the limit of {MAX_STRING:,}" in refused[5]["reason"]
    assert f"longer than {MAX_LINE:,} bytes" in refused[6]["reason"]
    for number, rejection in refused.items():
        quote = rejection["quote"]
        assert quote.startswith('\'{"kind": '), (number, quote)
        assert len(quote) <= QUOTE_LIMIT + 3, (number, quote)
        assert len(json.dumps(rejection)) < 400, number  # nothing is echoed back whole


def test_a_line_that_is_not_an_object_or_has_a_non_object_payload_is_refused(
    projected: Ledger, tmp_path: Path
) -> None:
    source = tmp_path / "odd.jsonl"
    source.write_text(
        "\n".join(
            [
                "[1, 2]",
                '{"kind": "enterprise.filed", "payload": [1]}',
                '{"kind": "enterprise.filed", "payload": {}, "extra": 1}',
                "NaN",
                _line(1),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    report = import_records(projected, source)
    assert (report.imported, report.rejected) == (1, 4)
    by_line = {r.line: r for r in report.examples}
    assert by_line[2].field == "payload" and "JSON object" in by_line[2].reason
    assert by_line[1].field is None and "Expected `object`" in by_line[1].reason
    assert by_line[3].field == "extra"
    assert "not JSON" in by_line[4].reason
