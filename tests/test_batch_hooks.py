"""Entries a batch hook adds (``BatchHook.more``) go into the same batch: one
transaction, one checkpoint, checked by every hook, after the caller's entries, with
the batch's latest time; the caller's positions still map to the caller's entries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.tlog.envelope import parse_envelope
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import entry


class Echo:
    """Adds one ``test.echoed`` entry per batch that held anything, naming the size."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.sizes: list[int] = []

    def begin(self, conn: Connection, entries: Sequence[NewEntry], continuing: bool) -> None:
        pass

    def check(self, entry: NewEntry, index: int, time: str) -> None:
        self.checked.append(entry.kind)

    def more(self, conn: Connection, size: int, time: str) -> Sequence[NewEntry]:
        if self.checked and self.checked[-1] == "test.echoed":
            return ()
        self.sizes.append(size)
        return [NewEntry("test.echoed", f"size:{size}", b"{}", "system:test", time=time)]

    def finish(self, conn: Connection, redacted: Sequence[int]) -> None:
        pass


def test_an_added_entry_joins_the_batch_after_the_callers(engine: Engine, signer: Signer) -> None:
    echo = Echo()
    ledger = Ledger(engine, signer, ORIGIN, hooks=[echo])
    first = [entry(), entry()]
    first[0].time = "2026-01-02T03:04:05.678Z"
    result = ledger.append(first)
    assert result.indices == [0, 1]  # the caller's entries only
    assert len(result.leaf_hashes) == 3 and result.checkpoint is not None
    assert result.checkpoint.size == 3  # one checkpoint covers the added entry too
    added = parse_envelope(ledger.entry(2).leaf_input)  # type: ignore[union-attr]
    assert (added.kind, added.subject, added.actor) == ("test.echoed", "size:2", "system:test")
    assert added.time >= "2026-01-02T03:04:05.678Z"  # never before the batch's own entries
    assert echo.checked == ["test.recorded", "test.recorded", "test.echoed"]  # checked too
    assert echo.sizes == [2]


def test_an_empty_batch_writes_only_what_a_hook_adds(engine: Engine, signer: Signer) -> None:
    echo = Echo()
    ledger = Ledger(engine, signer, ORIGIN, hooks=[echo])
    result = ledger.append([])
    assert result.indices == [] and len(result.leaf_hashes) == 1
    assert ledger.size() == 1
