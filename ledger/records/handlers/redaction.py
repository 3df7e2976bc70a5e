"""Redaction: a record that removes an earlier entry's payload.

It changes no row of its own; the projector rebuilds the target's subject from the log.
"""

from __future__ import annotations

from ledger.records.handler import Handler
from ledger.records.state import Payload, ProjectionState
from ledger.tlog.envelope import REDACTION_KIND


def _nothing(state: ProjectionState, r: Payload, index: int, time: str, subject: str) -> None:
    """Listed in proj_subject_entries (it owns no row); the rebuild does the rest."""


HANDLERS = (Handler(REDACTION_KIND, _nothing),)
