"""The handler table: one handler per record kind, the kind lists derived from it, and an
unknown kind refused with nothing written; bulk imports that assume new rows retry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from credit.catalogue import violation_item_check
from ledger.records.handler import FollowUp, New
from ledger.records.handlers import (
    ENTERPRISE_KINDS,
    FOLLOW_UPS,
    HANDLERS,
    PRODUCT_OWNER_KINDS,
    ROW_KINDS,
    apply,
    check,
)
from ledger.records.kinds import RECORD_TYPES, UnknownKind, parse_record
from ledger.records.projector import Projector, replay
from ledger.records.state import ProjectionState
from ledger.records.tables import ENTRY_COLUMN, LIVE
from ledger.store.entries import trusted_entry
from ledger.store.log import Ledger
from ledger.tlog.jcs import canonicalize
from ledger.tlog.note import Signer
from lookup_api.bulk.importer import import_records
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

TIME = "2026-01-05T02:00:00.000Z"


@pytest.fixture
def projected(engine: Engine, signer: Signer) -> Ledger:
    return Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])


def test_every_kind_in_the_schema_registry_has_a_handler_and_vice_versa() -> None:
    assert set(HANDLERS) == set(RECORD_TYPES)
    assert all(kind == handler.kind for kind, handler in HANDLERS.items())


def test_the_kind_lists_are_derived_from_the_handlers() -> None:
    # Entries that leave no row of their own are listed in proj_subject_entries.
    assert set(HANDLERS) - ROW_KINDS == {
        "enterprise.amended",
        "enterprise.revoked",
        "product.revoked",
        "violation.revoked",
        "complaint.verified",
        "recall.closed",
        "credit.repair_decided",
        "draw.requested",
        "entry.redacted",
    }
    assert set(FOLLOW_UPS) == {
        "violation.revoked",
        "complaint.verified",
        "recall.closed",
        "credit.repair_decided",
    }
    assert PRODUCT_OWNER_KINDS < ENTERPRISE_KINDS
    assert "entry.redacted" not in ROW_KINDS and "violation.recorded" not in ENTERPRISE_KINDS
    for kind, handler in HANDLERS.items():
        for reference in handler.references:
            # Every table a reference reads is a projection table; a follow-up names an
            # entry that created a row of it.
            assert reference.table in LIVE.names(), kind
            if isinstance(reference, FollowUp | New):
                assert reference.table in ENTRY_COLUMN, kind


def test_parse_record_refuses_an_unknown_kind_by_type() -> None:
    with pytest.raises(UnknownKind) as caught:
        parse_record("enterprise.merged", {"uscc": uscc(1)})
    assert caught.value.field == "kind" and "enterprise.merged" in str(caught.value)


def test_apply_and_check_refuse_an_unknown_kind_and_change_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        state = ProjectionState(conn)
        with pytest.raises(UnknownKind):
            check(state, "enterprise.merged", {"uscc": uscc(1)}, TIME, None)
        with pytest.raises(UnknownKind):
            apply(state, 0, TIME, "enterprise.merged", {"uscc": uscc(1)}, f"uscc:{uscc(1)}")
        assert not state.subject_entries and not state.dirty and not state.inserts


def test_an_entry_of_an_unknown_kind_is_refused_and_nothing_is_written(projected: Ledger) -> None:
    payload = canonicalize({"uscc": uscc(1)})
    entry = trusted_entry("enterprise.merged", f"uscc:{uscc(1)}", payload, "officer:test", None)
    result = projected.append([entry])
    assert list(result.rejected) == [0] and "unknown record kind" in str(result.rejected[0])
    assert projected.size() == 0
    with projected.engine.connect() as conn:
        for name in LIVE.names():
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() == 0, name


def _product(gtin: str, owner: str) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "name": "奶粉",
        "hs_code": "1901101000",
        "origin_country": "NZ",
        "owner_uscc": owner,
        "risk_class": "high",
    }


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_an_import_that_assumes_new_filings_still_refuses_a_stored_one(
    engine: Engine, signer: Signer, tmp_path: Path
) -> None:
    """After its first batch an import takes filings to be new without looking; one that
    is stored already (by an earlier import, so not in this one's cache) is caught by the
    primary key, and the batch runs again with every lookup and refuses it."""
    first = Ledger(engine, signer, ORIGIN, hooks=[Projector()])
    earlier = [{"kind": "enterprise.filed", "payload": enterprise_payload(n)} for n in (1, 2)]
    earlier.append({"kind": "product.filed", "payload": _product("06901234567892", uscc(1))})
    assert import_records(first, _write_lines(tmp_path / "a.jsonl", earlier)).imported == 3

    ledger = Ledger(engine, signer, ORIGIN, hooks=[Projector()])
    lines: list[dict[str, Any]] = [
        {"kind": "enterprise.filed", "payload": enterprise_payload(n)} for n in (3, 4)
    ]
    lines += [
        {"kind": "product.filed", "payload": _product("00000000000017", uscc(2))},  # 3
        {"kind": "enterprise.filed", "payload": enterprise_payload(2)},  # 4 stored already
        {"kind": "product.filed", "payload": _product("06901234567892", uscc(3))},  # 5 stored
        {"kind": "enterprise.filed", "payload": enterprise_payload(5)},  # 6
        {"kind": "product.filed", "payload": _product("00000000000024", uscc(5))},  # 7
    ]
    report = import_records(ledger, _write_lines(tmp_path / "b.jsonl", lines), batch_size=2)
    refused = {r.line: r for r in report.examples}
    assert set(refused) == {4, 5}
    assert refused[4].field == "uscc" and "already filed" in refused[4].reason
    assert refused[5].field == "gtin" and "already filed" in refused[5].reason
    assert report.imported == 5 and ledger.size() == 8
    assert replay(engine).equal
