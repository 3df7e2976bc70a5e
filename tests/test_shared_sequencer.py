"""One sequencer for several workers (lookup_api.shared_sequencer): each worker's entries
go over a Unix socket to the one AppendService and come back with the receipts they would
get in process; a worker that cannot reach it appends itself."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import TestClient

from ledger.errors import EntryRejected
from ledger.store.config import LedgerConfig
from ledger.store.engine import create_db_engine
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.store.service import (
    REQUEST_WRITES,
    AppendService,
    Receipt,
    RequestAbandoned,
    RequestWrites,
    ServiceClosed,
)
from ledger.tlog import merkle
from ledger.tlog.checkpoint import open_checkpoint
from ledger.tlog.note import Signer
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.settings import Settings
from lookup_api.shared_sequencer import SequencerServer, SharedAppendService
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, entry, payload, redaction

KIND, SUBJECT, ACTOR = "test.recorded", "test:subject", "officer:test"


@dataclass
class Sequencer:
    ledger: Ledger
    service: AppendService
    server: SequencerServer
    path: Path


@contextmanager
def sequencer(db_url: str, signer: Signer, folder: Path) -> Iterator[Sequencer]:
    """The sequencer process's parts, with engines of their own."""
    engine = create_db_engine(db_url)
    ledger = Ledger(engine, signer, ORIGIN)
    service = AppendService(ledger).start()
    path = folder / "sequencer.sock"
    server = SequencerServer(service, path).start()
    try:
        yield Sequencer(ledger, service, server, path)
    finally:
        server.close()
        service.close()
        engine.dispose()


@contextmanager
def worker(db_url: str, signer: Signer, path: Path) -> Iterator[SharedAppendService]:
    """A worker's appender: its own engine and ledger, as in another process."""
    engine = create_db_engine(db_url)
    appender = SharedAppendService(Ledger(engine, signer, ORIGIN), path)
    appender.start()
    try:
        yield appender
    finally:
        appender.close()
        engine.dispose()


def _waited_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Whether ``condition`` came true within ``seconds`` (a thread of the code under test
    makes it so)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _check(receipt: Receipt, ledger: Ledger) -> None:
    """The receipt's checkpoint is signed and proves the stored entry's inclusion."""
    checkpoint = open_checkpoint(receipt.checkpoint.note, ledger.verifier, ORIGIN)
    assert (checkpoint.size, checkpoint.root) == (receipt.checkpoint.size, receipt.checkpoint.root)
    stored = ledger.entry(receipt.index)
    assert stored is not None and stored.leaf_hash == receipt.leaf_hash
    merkle.verify_inclusion(
        receipt.index, checkpoint.size, receipt.leaf_hash, receipt.audit_path, checkpoint.root
    )


def test_two_workers_append_through_the_one_sequencer(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    with (
        sequencer(db_url, signer, tmp_path) as seq,
        worker(db_url, signer, seq.path) as one,
        worker(db_url, signer, seq.path) as two,
    ):
        receipts: list[Receipt] = []
        lock = threading.Lock()

        def write(appender: SharedAppendService) -> None:
            for _ in range(20):
                got = appender.append(entry())
                with lock:
                    receipts.append(got)

        writers = [threading.Thread(target=write, args=(a,)) for a in (one, two) for _ in range(4)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(60)
        assert sorted(r.index for r in receipts) == list(range(160))
        for receipt in receipts:
            _check(receipt, seq.ledger)
        # The sequencer committed every batch; neither worker wrote one itself.
        assert seq.service.appended == 160
        assert one.batches == two.batches == 0
        assert one.appended + two.appended == 160
        assert seq.ledger.size() == 160


def test_refusals_and_repeats_come_back_as_in_process(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    with sequencer(db_url, signer, tmp_path) as seq, worker(db_url, signer, seq.path) as one:
        body = payload()
        receipt = one.append(NewEntry(KIND, SUBJECT, body, ACTOR, request_key="key:1"))
        repeated = one.append(NewEntry(KIND, SUBJECT, body, ACTOR, request_key="key:1"))
        assert repeated.repeated and repeated.index == receipt.index
        assert repeated.checkpoint == receipt.checkpoint
        _check(repeated, seq.ledger)
        with pytest.raises(EntryRejected) as refused:
            one.append(redaction(5))  # no entry 5
        assert refused.value.field == "index"
        assert "entry 5 does not exist" in str(refused.value)
        with pytest.raises(EntryRejected) as reused:
            one.append(NewEntry(KIND, SUBJECT, payload(), ACTOR, request_key="key:1"))
        assert reused.value.field == "Idempotency-Key"
        assert seq.ledger.size() == 1


def test_a_closed_sequencer_takes_nothing(db_url: str, signer: Signer, tmp_path: Path) -> None:
    with sequencer(db_url, signer, tmp_path) as seq, worker(db_url, signer, seq.path) as one:
        one.append(entry())
        seq.service.close()
        with pytest.raises(ServiceClosed):
            one.append(entry())
        assert seq.ledger.size() == 1


def test_a_worker_appends_itself_while_no_sequencer_listens(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    with worker(db_url, signer, tmp_path / "nobody.sock") as one:
        receipt = one.append(entry())
        _check(receipt, one.ledger)
        assert one.batches == 1 and one.ledger.size() == 1


def test_a_worker_whose_sequencer_went_away_appends_itself(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    with sequencer(db_url, signer, tmp_path) as seq, worker(db_url, signer, seq.path) as one:
        one.append(entry())
        seq.server.close()
        seq.service.close()
        seq.server.drop_connections()  # as the process's death would
        # Once the worker has seen the connection close (an entry sent before that would be
        # answered SequencerLost: it cannot tell whether it was taken).
        assert _waited_for(lambda: one._link is None)
        receipts = [one.append(entry()) for _ in range(3)]
        assert [r.index for r in receipts] == [1, 2, 3]
        for receipt in receipts:
            _check(receipt, one.ledger)
        assert one.batches == 3


def test_requests_append_from_the_event_loop_through_the_one_sequencer(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    with (
        sequencer(db_url, signer, tmp_path) as seq,
        worker(db_url, signer, seq.path) as one,
        worker(db_url, signer, seq.path) as two,
    ):

        async def requests() -> list[Receipt]:
            return await asyncio.gather(
                *(appender.append_async(entry()) for appender in (one, two) for _ in range(50))
            )

        receipts = asyncio.run(requests())
        assert sorted(r.index for r in receipts) == list(range(100))
        for receipt in receipts:
            _check(receipt, seq.ledger)
        assert one.batches == two.batches == 0  # neither appended itself
        assert seq.service.appended == 100


def test_a_request_with_an_entry_sent_is_waited_for_and_one_given_up_sends_nothing(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    """RequestWrites: once its entry is written to the sequencer the request cannot be
    given up; given up first, its entry is never sent."""
    with sequencer(db_url, signer, tmp_path) as seq, worker(db_url, signer, seq.path) as one:

        async def request(writes: RequestWrites) -> Receipt:
            REQUEST_WRITES.set(writes)
            return await one.append_async(entry())

        async def both() -> None:
            sent = RequestWrites()
            task = asyncio.ensure_future(request(sent))
            await asyncio.sleep(0.2)  # connected, and the entry written
            assert not sent.abandon()  # taken: the request is waited for
            _check(await task, seq.ledger)
            given_up = RequestWrites()
            assert given_up.abandon()
            with pytest.raises(RequestAbandoned):
                await request(given_up)

        asyncio.run(both())
        assert seq.ledger.size() == 1


def test_the_event_loop_appends_itself_once_the_sequencer_went_away(
    db_url: str, signer: Signer, tmp_path: Path
) -> None:
    with sequencer(db_url, signer, tmp_path) as seq, worker(db_url, signer, seq.path) as one:

        async def requests() -> list[Receipt]:
            first = await one.append_async(entry())
            seq.server.close()
            seq.service.close()
            seq.server.drop_connections()
            await asyncio.sleep(0.2)  # the loop hears the connection close
            return [first, *[await one.append_async(entry()) for _ in range(3)]]

        receipts = asyncio.run(requests())
        assert [r.index for r in receipts] == [0, 1, 2, 3]
        for receipt in receipts:
            _check(receipt, one.ledger)
        assert one.batches == 3


def test_a_record_the_sequencer_took_and_never_answered_is_outcome_unknown(
    db_url: str, tmp_path: Path
) -> None:
    """A sequencer that goes away after taking the entry may have committed it: the answer
    says so (not a 503, which says nothing was written) and names the retry."""
    path = tmp_path / "sequencer.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def take_and_vanish() -> None:
        conn, _ = listener.accept()
        conn.recv(1 << 16)  # the entry's frame: taken, never answered
        conn.close()

    vanishing = threading.Thread(target=take_and_vanish, daemon=True)
    vanishing.start()
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        sequencer_socket=path,
    )
    services = Services.open(settings)
    try:
        token = create_key(services.engine, "officer")[1]
        with TestClient(create_app(services=services)) as client:
            response = client.post(
                "/v1/records",
                content=json.dumps({"kind": "enterprise.filed", "payload": enterprise_payload(1)}),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
        vanishing.join(30)
        assert response.status_code == 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == "/problems/outcome-unknown"
        assert "Idempotency-Key" in problem["detail"]
    finally:
        services.close()
        listener.close()
