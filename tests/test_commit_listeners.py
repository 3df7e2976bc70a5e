"""Commit listeners (``ledger.store.entries.CommitListener``): told of a batch inside its
transaction after the hooks, then once it is committed, never for a batch that wrote
nothing; and they stay when a caller replaces the hooks."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from ledger.errors import EntryRejected
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import entry


class Told:
    """Writes down what it is told, and what the batch's transaction held then."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, int, int]] = []

    def written(self, conn: Connection, first: int, entries: Sequence[NewEntry]) -> None:
        stored = conn.exec_driver_sql("SELECT COUNT(*) FROM ledger_entries").scalar_one()
        self.heard.append(("written", first, int(stored)))

    def committed(self) -> None:
        self.heard.append(("committed", -1, -1))


class RefuseAll:
    def begin(self, conn: Connection, entries: Sequence[NewEntry], continuing: bool) -> None:
        pass

    def check(self, entry: NewEntry, index: int, time: str) -> None:
        raise EntryRejected("refused for the test")

    def more(self, conn: Connection, size: int, time: str) -> Sequence[NewEntry]:
        return ()

    def finish(self, conn: Connection, redacted: Sequence[int]) -> None:
        pass


def test_a_listener_hears_each_written_batch_then_its_commit(
    engine: Engine, signer: Signer
) -> None:
    ledger = Ledger(engine, signer, ORIGIN)
    told = Told()
    ledger.listeners.append(told)
    ledger.append([entry(), entry()])
    ledger.append([entry()])
    # Inside the transaction the batch's entries are already written.
    assert told.heard == [
        ("written", 0, 2),
        ("committed", -1, -1),
        ("written", 2, 3),
        ("committed", -1, -1),
    ]


def test_a_batch_that_writes_nothing_is_not_heard_and_hooks_replaced_keep_listeners(
    engine: Engine, signer: Signer
) -> None:
    ledger = Ledger(engine, signer, ORIGIN)
    told = Told()
    ledger.listeners.append(told)
    ledger.hooks = [RefuseAll()]
    result = ledger.append([entry()])
    assert result.rejected and told.heard == []
    ledger.hooks = []
    ledger.append([entry()])
    assert told.heard == [("written", 0, 1), ("committed", -1, -1)]
