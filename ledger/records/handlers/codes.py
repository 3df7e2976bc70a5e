"""Traceability codes: issued for a declared batch (a Merkle root of serials), revoked."""

from __future__ import annotations

from ledger.records.handler import Batch, Handler, ItemCheck, batch_declared, json_list
from ledger.records.handlers.batches import batch_row
from ledger.records.kinds import RecordError
from ledger.records.state import Payload, ProjectionState


def _some_issued(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    if not batch_declared(state, r["gtin"], r["batch"], "batch")["codes"]:
        raise RecordError(f"no codes were issued for batch {r.get('batch')}", "batch")


def _issued(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.insert(
        "proj_code_batches",
        {
            "entry": index,
            "gtin": r["gtin"],
            "batch": r["batch"],
            "count": r["count"],
            "serials_root": r["serials_root"],
            "key_id": r["key_id"],
        },
    )
    key = (r["gtin"], r["batch"])
    row = batch_row(state, key)
    row["codes"] = (row["codes"] or 0) + r["count"]
    state.put("proj_batches", row, key)


def _revoked(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.insert(
        "proj_code_revocations",
        {
            "entry": index,
            "gtin": r["gtin"],
            "batch": r["batch"],
            "serials": json_list(r["serials"]),
            "reason": r["reason"],
        },
    )


HANDLERS = (
    Handler(
        "codes.issued",
        _issued,
        references=(Batch(),),
        owns_row=True,
        writer="product owner",
        through_records=False,  # POST /v1/codes/batches stores the serials its root names
    ),
    Handler(
        "codes.revoked",
        _revoked,
        references=(Batch(),),
        rules=(_some_issued,),
        owns_row=True,
        writer="product owner",
    ),
)
