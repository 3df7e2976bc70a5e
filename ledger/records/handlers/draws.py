"""Random inspection draws: the request that commits to one, then the draw itself (the
population, the seed's tree size and the picks)."""

from __future__ import annotations

from sqlalchemy import select

from ledger.records.handler import Handler, ItemCheck, json_list
from ledger.records.kinds import RecordError
from ledger.records.state import Payload, ProjectionState

REQUESTED = "draw.requested"


def _made(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    state.insert(
        "proj_draws",
        {
            "entry": index,
            "draw_id": subject.removeprefix("draw:"),
            "population": r["population"],
            "count": r["count"],
            "seed_size": r["seed_size"],
            "picks": json_list(r["picks"]),
        },
    )


def _requested(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    """Listed in proj_subject_entries (it owns no row): the draw that answers it names it."""


def _made_entry(state: ProjectionState, draw_id: str) -> int | None:
    staged = [row for row in state.inserts.get("proj_draws", []) if row["draw_id"] == draw_id]
    table = state.tables["proj_draws"]
    stored = state.conn.execute(select(table.c.entry).where(table.c.draw_id == draw_id)).scalar()
    return stored if stored is not None else (staged[0]["entry"] if staged else None)


def request_entry(state: ProjectionState, draw_id: str) -> int | None:
    """The ``draw.requested`` entry of ``draw_id`` (stored or in this batch), if any."""
    subject = f"draw:{draw_id}"
    for row in state.subject_entries:
        if row["subject"] == subject and row["kind"] == REQUESTED:
            return int(row["idx"])
    table = state.tables["proj_subject_entries"]
    stored = state.conn.execute(
        select(table.c.idx).where(table.c.subject == subject, table.c.kind == REQUESTED)
    ).scalar()
    return None if stored is None else int(stored)


def _new_draw_id(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    """An explicit draw id names one draw only (the table's unique key would otherwise
    fail the whole batch); a draw asked for is made once, naming its request."""
    draw_id = r.get("draw_id")
    if draw_id is None or r.get("request") is None:
        # Drawn from the checkpoint at hand when asked for, the earlier form could be
        # retried until it came out as wished: replayed as recorded, never appended now.
        raise RecordError("a draw names the draw.requested entry it answers", "request")
    entry = _made_entry(state, draw_id)
    if entry is not None:
        raise RecordError(f"draw {draw_id} is already recorded (entry {entry})", "draw_id")
    requested = request_entry(state, draw_id)
    if r["request"] != requested:
        raise RecordError(
            f"draw {draw_id} was not requested"
            if requested is None
            else f"draw {draw_id} was requested by entry {requested}, not {r['request']}",
            "request",
        )


def _unrequested_id(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    """A draw id is asked for once: a second request could be a retry for a better seed."""
    draw_id = r["draw_id"]
    requested = request_entry(state, draw_id)
    made = _made_entry(state, draw_id)
    if requested is not None or made is not None:
        raise RecordError(
            f"draw {draw_id} is already recorded (entry {requested if made is None else made})",
            "draw_id",
        )


HANDLERS = (
    Handler(
        REQUESTED,
        _requested,
        rules=(_unrequested_id,),
        through_records=False,  # POST /v1/draws records it, then the draw it commits to
    ),
    Handler(
        "draw.made",
        _made,
        rules=(_new_draw_id,),
        owns_row=True,
        through_records=False,  # POST /v1/draws picks them from a checkpoint, not a caller
    ),
)
