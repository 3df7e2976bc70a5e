"""Random inspection draws: the population, the seed's tree size and the picks."""

from __future__ import annotations

from ledger.records.handler import Handler, json_list
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


HANDLERS = (Handler("draw.made", _made, owns_row=True),)
