"""The stored log on SQLite and PostgreSQL: appends, proofs, redaction, append-only triggers."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import Engine, exc

from ledger.errors import EntryRejected, LedgerError
from ledger.store.dbverify import verify_database
from ledger.store.engine import write_transaction
from ledger.store.log import Ledger
from ledger.tlog import merkle
from ledger.tlog.checkpoint import TlogProof, open_checkpoint
from ledger.tlog.note import Signer
from tests.conftest import ORIGIN
from tests.factories import entry, redaction


def test_batches_match_an_independent_tree_and_checkpoints_verify(ledger: Ledger) -> None:
    mirror = merkle.MemoryTree()
    for count in [1, 1, 3, 251, 1, 300, 5000, 70]:
        result = ledger.append([entry() for _ in range(count)])
        assert result.first_index == mirror.size
        for leaf_hash in result.leaf_hashes:
            mirror.append(leaf_hash)
        assert result.checkpoint is not None
        assert result.checkpoint.size == mirror.size
        assert result.checkpoint.root == mirror.root()
        checkpoint = open_checkpoint(result.checkpoint.note, ledger.verifier, ORIGIN)
        assert checkpoint.root == mirror.root()
    size = mirror.size
    rng = random.Random(7)
    for _ in range(60):
        index = rng.randrange(size)
        tree_size = rng.randint(index + 1, size)
        assert ledger.inclusion_proof(index, tree_size) == mirror.inclusion_proof(index, tree_size)
        first = rng.randint(1, size)
        second = rng.randint(first, size)
        assert ledger.consistency_proof(first, second) == mirror.consistency_proof(first, second)
    stored = ledger.entry(4321)
    assert stored is not None and stored.leaf_hash == mirror.read_nodes([(0, 4321)])[0]


def test_every_stored_checkpoint_is_kept_and_consistent(ledger: Ledger) -> None:
    for count in (2, 3, 300):
        ledger.append([entry() for _ in range(count)])
    for size in (2, 5, 305):
        stored = ledger.checkpoint_at(size)
        assert stored is not None
        assert open_checkpoint(stored.note, ledger.verifier).size == size
    assert ledger.checkpoint_at(4) is None
    merkle.verify_consistency(
        2, 305, ledger.consistency_proof(2, 305), ledger.root(2), ledger.root(305)
    )


def test_tlog_proof_verifies_offline(ledger: Ledger) -> None:
    result = ledger.append([entry() for _ in range(700)])
    assert result.checkpoint is not None
    proof = TlogProof.parse(ledger.tlog_proof(513, result.checkpoint))
    assert proof.index == 513
    proof.verify(result.leaf_hashes[513], ledger.verifier, ORIGIN)


def test_a_second_process_view_continues_the_same_log(engine: Engine, signer: Signer) -> None:
    first, second = Ledger(engine, signer, ORIGIN), Ledger(engine, signer, ORIGIN)
    first.append([entry() for _ in range(10)])
    second.append([entry() for _ in range(5)])  # must see the 10 entries first wrote
    result = first.append([entry()])
    assert result.first_index == 15
    assert verify_database(engine, signer.verifier, ORIGIN).size == 16


def test_another_key_or_origin_is_refused(engine: Engine, signer: Signer) -> None:
    Ledger(engine, signer, ORIGIN).append([entry()])
    with pytest.raises(LedgerError, match="verifier_key"):
        Ledger(engine, Signer.generate(ORIGIN), ORIGIN)
    other = Signer.generate("elsewhere.example/log")
    with pytest.raises(LedgerError, match="origin"):
        Ledger(engine, other, "elsewhere.example/log")


def test_leaf_hash_lookup_after_bulk_and_group_appends(ledger: Ledger) -> None:
    results = list(ledger.append_bulk((entry() for _ in range(1000)), batch_size=300))
    assert [r.first_index for r in results] == [0, 300, 600, 900]
    single = ledger.append([entry()])
    assert ledger.index_of_leaf(results[2].leaf_hashes[17]) == 617
    assert ledger.index_of_leaf(single.leaf_hashes[0]) == 1000
    assert ledger.index_of_leaf(bytes(32)) is None


def test_redaction_removes_payload_and_keeps_proofs(ledger: Ledger, engine: Engine) -> None:
    ledger.append([entry(secret="name of a natural person") for _ in range(20)])
    before = ledger.entry(7)
    assert before is not None and before.payload is not None
    root_before = ledger.root(20)
    result = ledger.append([redaction(7)])
    assert result.first_index == 20
    after = ledger.entry(7)
    assert after is not None
    assert after.payload is None and after.salt is None
    assert after.leaf_input == before.leaf_input  # envelope, leaf hash and proofs unchanged
    assert ledger.redaction_of(7) == 20
    assert ledger.root(20) == root_before
    merkle.verify_inclusion(7, 21, before.leaf_hash, ledger.inclusion_proof(7, 21), ledger.root(21))
    report = verify_database(engine, ledger.verifier, ORIGIN)
    assert report.redacted == 1


@pytest.mark.parametrize(
    ("target", "message"),
    [(99, "does not exist"), (3, "already redacted"), (10, "itself a redaction")],
)
def test_bad_redactions_are_refused_and_write_nothing(
    ledger: Ledger, target: int, message: str
) -> None:
    ledger.append([entry() for _ in range(10)])
    ledger.append([redaction(3)])  # entry 10
    size = ledger.size()
    result = ledger.append([redaction(target)])
    assert isinstance(result.rejected[0], EntryRejected)
    assert message in str(result.rejected[0])
    assert result.leaf_hashes == []
    assert ledger.size() == size


def test_rejected_entries_do_not_stop_the_rest_of_a_batch(ledger: Ledger) -> None:
    ledger.append([entry() for _ in range(3)])
    result = ledger.append([entry(), redaction(42), entry()])
    assert result.indices == [3, None, 4]
    assert 1 in result.rejected
    assert ledger.size() == 5


def _raw(engine: Engine, sql: str) -> None:
    with write_transaction(engine) as conn:
        conn.exec_driver_sql(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entries SET leaf_input = leaf_input || leaf_input WHERE idx = 1",
        "UPDATE ledger_entries SET payload = NULL, salt = NULL WHERE idx = 1",
        "UPDATE ledger_entries SET idx = 99 WHERE idx = 1",
        "DELETE FROM ledger_entries WHERE idx = 2",
        "DELETE FROM ledger_checkpoints",
        "UPDATE ledger_checkpoints SET note = 'x'",
        "DELETE FROM ledger_tiles",
        "UPDATE ledger_tiles SET hashes = substr(hashes, 1, 32)",
        "DELETE FROM ledger_meta",
    ],
)
def test_database_refuses_rewrites(ledger: Ledger, engine: Engine, sql: str) -> None:
    ledger.append([entry() for _ in range(5)])
    if engine.dialect.name == "postgresql":
        sql = sql.replace("leaf_input || leaf_input", "leaf_input || '\\x00'::bytea").replace(
            "substr(hashes, 1, 32)", "substring(hashes from 1 for 32)"
        )
    with pytest.raises(exc.DBAPIError, match=r"append-only|may only grow"):
        _raw(engine, sql)
    assert verify_database(engine, ledger.verifier, ORIGIN).size == 5


def test_truncate_is_refused_on_postgres(ledger: Ledger, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL only")
    ledger.append([entry()])
    with pytest.raises(exc.DBAPIError, match="append-only"):
        _raw(engine, "TRUNCATE ledger_entries CASCADE")


def test_entry_json_view_round_trips(ledger: Ledger) -> None:
    ledger.append([entry(kind="enterprise.filed", subject="uscc:91110108600257467C", name="北京")])
    stored = ledger.entry(0)
    assert stored is not None and stored.payload is not None
    assert json.loads(stored.payload)["name"] == "北京"


def test_the_service_catches_up_the_leaf_index_in_the_background(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    from ledger.store.config import LedgerConfig
    from lookup_api.settings import Settings
    from lookup_api.wiring import Services, open_ledger

    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
    )
    bulk = open_ledger(settings)
    bulk.hooks = []  # plain entries; the projections are not what this is about
    list(bulk.append_bulk((entry() for _ in range(40_000)), batch_size=10_000))
    bulk.engine.dispose()

    def indexed(engine: Engine) -> int:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT upto FROM ledger_progress WHERE name = 'leaf_index'"
                ).scalar_one()
            )

    services = Services.open(settings)
    try:
        deadline = time.monotonic() + 60
        while indexed(services.engine) < 40_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert indexed(services.engine) == 40_000
        leaf = services.ledger.entry(31_337)
        assert leaf is not None
        assert services.ledger.index_of_leaf(leaf.leaf_hash) == 31_337
    finally:
        services.close()


def test_entries_queued_while_another_process_holds_the_lock_join_the_waiting_batch(
    ledger: Ledger, db_url: str
) -> None:
    """Group commit across worker processes: while one process's batch waits for the
    write lock held by another, the entries that reach it go in that same transaction."""
    import threading
    import time

    from ledger.store.engine import create_db_engine
    from ledger.store.service import AppendService

    ledger.append([entry()])  # the log's first checkpoint
    other = create_db_engine(db_url)  # another process: its own connections
    service = AppendService(ledger).start()
    try:
        held = threading.Event()
        release = threading.Event()

        def hold_the_lock() -> None:
            with write_transaction(other):
                held.set()
                release.wait(30)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert held.wait(30)
        first = service.submit(entry())
        time.sleep(0.5)  # the sequencer has taken it and waits for the lock
        rest = [service.submit(entry()) for _ in range(4)]
        release.set()
        holder.join(30)
        receipts = [f.result(30) for f in [first, *rest]]
    finally:
        service.close()
        other.dispose()
    assert service.batches == 1
    assert [r.index for r in receipts] == [1, 2, 3, 4, 5]
    assert {r.checkpoint.size for r in receipts} == {6}
    for r in receipts:
        merkle.verify_inclusion(r.index, 6, r.leaf_hash, r.audit_path, ledger.root(6))


def test_a_pooled_connection_lost_while_idle_is_replaced_not_handed_out(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pool_pre_ping's round trip on every checkout, a connection that sat idle is
    still pinged first: one the server dropped meanwhile is not given to a request."""
    from ledger.store import engine as engines

    if db_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL server drops connections; a SQLite file does not")
    engine = engines.create_db_engine(db_url)
    admin = engines.create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (backend,))
            conn.commit()
        monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.0)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != backend
    finally:
        engine.dispose()
        admin.dispose()


def test_the_size_is_the_latest_checkpoints_and_its_read_leaves_the_pool_as_it_was(
    ledger: Ledger, engine: Engine
) -> None:
    """The size is read on the driver's connection in autocommit on PostgreSQL (the feed
    reads it for every page); the pooled connection it borrowed goes back transactional:
    a transaction on it after that is still all or nothing."""
    assert ledger.size() == 0
    for count in (1, 4):
        ledger.append([entry() for _ in range(count)])
        latest = ledger.latest_checkpoint()
        assert latest is not None and ledger.size() == latest.size
    assert ledger.size() == 5
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
        conn.commit()
    for _ in range(3):  # every pooled connection the reads may have touched
        ledger.size()
        with pytest.raises(RuntimeError), write_transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
            raise RuntimeError("rolled back")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one() == 0
