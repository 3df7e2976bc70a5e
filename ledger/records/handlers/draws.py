"""Random inspection draws: the population, the seed's tree size and the picks."""

from __future__ import annotations

from sqlalchemy import select

from ledger.records.handler import Handler, ItemCheck, json_list
from ledger.records.kinds import RecordError
from ledger.records.state import Payload, ProjectionState


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


def _new_draw_id(
    state: ProjectionState, r: Payload, time: str, item_check: ItemCheck | None
) -> None:
    """An explicit draw id names one draw only (the table's unique key would otherwise
    fail the whole batch)."""
    draw_id = r.get("draw_id")
    if draw_id is None:
        return
    staged = [row for row in state.inserts.get("proj_draws", []) if row["draw_id"] == draw_id]
    table = state.tables["proj_draws"]
    stored = state.conn.execute(select(table.c.entry).where(table.c.draw_id == draw_id)).scalar()
    entry = stored if stored is not None else (staged[0]["entry"] if staged else None)
    if entry is not None:
        raise RecordError(f"draw {draw_id} is already recorded (entry {entry})", "draw_id")


HANDLERS = (
    Handler(
        "draw.made",
        _made,
        rules=(_new_draw_id,),
        owns_row=True,
        through_records=False,  # POST /v1/draws picks them from a checkpoint, not a caller
    ),
)
