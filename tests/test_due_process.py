"""The blacklist's due process is exact: none → noticed → listed (30 days on) → none.

Every other step is refused, saying the enterprise's current state and what the step
requires, and nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from credit.catalogue import violation_item_check
from ledger.records.entry import record_entry
from ledger.records.projector import Projector, replay
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

OFFICER = "officer:test"
A = uscc(1)


@pytest.fixture
def projected(engine: Engine, signer: Signer) -> Ledger:
    ledger = Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])
    _add(ledger, "enterprise.filed", enterprise_payload(1), "2025-01-01T02:00:00.000Z")
    return ledger


def _step(kind: str) -> dict[str, Any]:
    return {"uscc": A, "reason": kind.split(".")[1]}


def _add(ledger: Ledger, kind: str, payload: dict[str, Any], time: str) -> int:
    result = ledger.append([record_entry(kind, payload, OFFICER, time)])
    assert not result.rejected, result.rejected
    return result.first_index


def _refused(ledger: Ledger, kind: str, time: str) -> str:
    size = ledger.size()
    result = ledger.append([record_entry(kind, _step(kind), OFFICER, time)])
    assert result.rejected and ledger.size() == size
    return str(result.rejected[0])


def _standing(ledger: Ledger) -> str:
    with ledger.engine.connect() as conn:
        value = conn.exec_driver_sql(
            f"SELECT blacklist FROM proj_enterprises WHERE uscc = '{A}'"
        ).scalar_one()
    return str(value)


def test_every_step_out_of_order_is_refused_naming_the_state_and_the_requirement(
    projected: Ledger,
) -> None:
    why = _refused(projected, "blacklist.removed", "2025-02-01T02:00:00.000Z")
    assert "not on the blacklist" in why and "requires a blacklist.listed" in why
    why = _refused(projected, "blacklist.listed", "2025-02-01T02:00:00.000Z")
    assert "not on the blacklist" in why and "must be noticed before it is listed" in why

    notice = _add(
        projected, "blacklist.noticed", _step("blacklist.noticed"), "2025-03-01T02:00:00.000Z"
    )
    assert _standing(projected) == "noticed"
    why = _refused(projected, "blacklist.noticed", "2025-03-02T02:00:00.000Z")
    assert f"already noticed (entry {notice})" in why and "next step is blacklist.listed" in why
    # A notice is not a listing: it cannot be removed from a list it is not on.
    why = _refused(projected, "blacklist.removed", "2025-03-03T02:00:00.000Z")
    assert f"is noticed (entry {notice}), not listed" in why
    assert "requires a blacklist.listed" in why
    why = _refused(projected, "blacklist.listed", "2025-03-30T02:00:00.000Z")
    assert "30 days after the notice" in why and "2025-03-31" in why

    listing = _add(
        projected, "blacklist.listed", _step("blacklist.listed"), "2025-03-31T02:00:00.000Z"
    )
    assert _standing(projected) == "listed"
    why = _refused(projected, "blacklist.listed", "2025-04-01T02:00:00.000Z")
    assert f"already listed (entry {listing})" in why
    why = _refused(projected, "blacklist.noticed", "2025-04-01T02:00:00.000Z")
    assert f"already listed (entry {listing})" in why and "next step is blacklist.removed" in why

    _add(projected, "blacklist.removed", _step("blacklist.removed"), "2025-10-01T02:00:00.000Z")
    assert _standing(projected) == "none"
    why = _refused(projected, "blacklist.removed", "2025-10-02T02:00:00.000Z")
    assert "not on the blacklist" in why
    # A new case starts again from a notice.
    _add(projected, "blacklist.noticed", _step("blacklist.noticed"), "2025-11-01T02:00:00.000Z")
    assert _standing(projected) == "noticed"
    assert replay(projected.engine).equal
