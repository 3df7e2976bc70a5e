"""Issuing, finding, revoking and proving traceability codes, over SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import Engine, func, select

from ledger.audit.codes import (
    CodeProofError,
    serial_audit_path,
    serial_leaf_hashes,
    serials_root,
    verify_code_proof,
)
from ledger.errors import EntryRejected
from ledger.records.projector import replay
from ledger.store.engine import read_transaction
from ledger.store.log import Ledger
from ledger.tlog.merkle import MemoryTree, hash_leaf
from ledger.tlog.note import Signer
from qr.issuance import IssueRefused, issue_codes
from qr.lookup import code_proof, find_code, find_codes, revocation_of
from qr.serials import new_serials
from qr.tables import qr_codes
from tests.codes_env import BATCH, GTIN, OTHER_GTIN, add, appender, seed
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload

KEY_ID = "0123abcd"


@pytest.fixture
def seeded(ledger: Ledger) -> Ledger:
    seed(ledger)
    return ledger


def _issue(ledger: Ledger, count: int, batch: str = BATCH, gtin: str = GTIN) -> list[str]:
    issued = issue_codes(
        ledger.engine,
        appender(ledger),
        gtin=gtin,
        batch=batch,
        count=count,
        key_id=KEY_ID,
        actor="officer:test",
    )
    return issued.serials


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(qr_codes)).scalar_one())


def test_issued_codes_are_found_and_the_entry_commits_to_their_root(seeded: Ledger) -> None:
    serials = _issue(seeded, 300)
    assert serials == sorted(serials) and len(set(serials)) == 300
    with read_transaction(seeded.engine) as conn:
        code = find_code(conn, serials[17])
        assert code is not None
        assert (code.gtin, code.batch, code.position, code.count) == (GTIN, BATCH, 17, 300)
        assert find_code(conn, new_serials(1)[0]) is None
        payload = json.loads(seeded.entry(code.entry, conn).payload or b"")  # type: ignore[union-attr]
    assert payload["serials_root"] == base64.b64encode(serials_root(serials)).decode()
    assert payload["count"] == 300 and payload["key_id"] == KEY_ID


def test_the_serials_root_is_rfc9162_over_the_sorted_serials() -> None:
    serials = sorted(new_serials(37))
    tree = MemoryTree(hash_leaf(s.encode()) for s in serials)
    assert serials_root(serials) == tree.root()
    hashes = serial_leaf_hashes(serials)
    for position in (0, 1, 17, 36):
        assert serial_audit_path(hashes, position) == tree.inclusion_proof(position)


def test_a_code_proof_verifies_with_the_ledger_package_alone(
    seeded: Ledger, signer: Signer
) -> None:
    serials = _issue(seeded, 50)
    add(seeded, "enterprise.filed", enterprise_payload(9))  # the log grows after the issue
    with read_transaction(seeded.engine) as conn:
        code = find_code(conn, serials[3])
        assert code is not None
        proof = code_proof(conn, seeded, code)
    proof = json.loads(json.dumps(proof))  # as a client receives it
    proven = verify_code_proof(proof, signer.verifier, ORIGIN)
    assert (proven.serial, proven.gtin, proven.batch, proven.entry) == (
        serials[3],
        GTIN,
        BATCH,
        code.entry,
    )
    assert proven.tree_size == seeded.size()


@pytest.mark.parametrize(
    "tamper",
    ["serial", "serial_index", "serial_path", "payload", "root", "audit_path", "checkpoint", "key"],
)
def test_a_tampered_code_proof_is_refused(seeded: Ledger, signer: Signer, tamper: str) -> None:
    serials = _issue(seeded, 20)
    with read_transaction(seeded.engine) as conn:
        code = find_code(conn, serials[5])
        assert code is not None
        proof = json.loads(json.dumps(code_proof(conn, seeded, code)))
    verifier = signer.verifier
    if tamper == "serial":
        proof["serial"] = serials[6]
    elif tamper == "serial_index":
        proof["serial_index"] += 1
    elif tamper == "serial_path":
        proof["serial_path"][0] = base64.b64encode(bytes(32)).decode()
    elif tamper == "payload":
        fields = json.loads(base64.b64decode(proof["entry"]["payload"]))
        fields["count"] = 21
        proof["entry"]["payload"] = base64.b64encode(json.dumps(fields).encode()).decode()
    elif tamper == "root":
        proof["serials_root"] = base64.b64encode(bytes(32)).decode()
    elif tamper == "audit_path":
        proof["inclusion"]["audit_path"][0] = base64.b64encode(bytes(32)).decode()
    elif tamper == "checkpoint":
        proof["checkpoint"] = proof["checkpoint"].replace("\n", "\n\n", 1)
    else:
        verifier = Signer.generate(ORIGIN).verifier
    with pytest.raises((CodeProofError, ValueError)):
        verify_code_proof(proof, verifier, ORIGIN)


def test_only_a_declared_batch_gets_codes(seeded: Ledger) -> None:
    with pytest.raises(IssueRefused, match=r"batch B9 .* is not declared"):
        _issue(seeded, 5, batch="B9")
    with pytest.raises(IssueRefused, match="count must be 1"):
        _issue(seeded, 0)
    assert _stored(seeded.engine) == 0


def test_a_refused_entry_leaves_no_serials(seeded: Ledger) -> None:
    """The sequencer's own check refuses (batch not declared there); the rows go again."""

    def refuse(entry: object) -> int:
        raise EntryRejected("batch: batch B1 is not declared", field="batch")

    with pytest.raises(EntryRejected):
        issue_codes(
            seeded.engine,
            refuse,
            gtin=GTIN,
            batch=BATCH,
            count=10,
            key_id=KEY_ID,
            actor="officer:test",
        )
    assert _stored(seeded.engine) == 0


def test_serials_without_their_entry_are_not_issued(seeded: Ledger) -> None:
    """An issuance interrupted between its serials and its entry issues nothing."""
    from qr.issuance import store_serials

    orphans = sorted(new_serials(5))
    root = base64.b64encode(serials_root(orphans)).decode()
    store_serials(seeded.engine, gtin=GTIN, batch=BATCH, serials=orphans, root=root)
    with read_transaction(seeded.engine) as conn:
        assert find_code(conn, orphans[0]) is None
        assert find_codes(conn, orphans) == {}


def test_revocation_of_one_code_and_of_a_batch(seeded: Ledger) -> None:
    serials = _issue(seeded, 10)
    one = add(
        seeded,
        "codes.revoked",
        {"gtin": GTIN, "batch": BATCH, "serials": [serials[2]], "reason": "label damaged"},
    )
    with read_transaction(seeded.engine) as conn:
        assert revocation_of(conn, GTIN, BATCH, serials[2]) == one
        assert revocation_of(conn, GTIN, BATCH, serials[3]) is None
    everything = add(
        seeded, "codes.revoked", {"gtin": GTIN, "batch": BATCH, "serials": [], "reason": "stolen"}
    )
    with read_transaction(seeded.engine) as conn:
        assert revocation_of(conn, GTIN, BATCH, serials[2]) == one
        assert revocation_of(conn, GTIN, BATCH, serials[3]) == everything


def test_a_replay_keeps_the_codes_and_rebuilds_their_batches(seeded: Ledger) -> None:
    serials = _issue(seeded, 10)
    report = replay(seeded.engine)
    assert report.equal, report.examples
    with read_transaction(seeded.engine) as conn:
        assert find_code(conn, serials[0]) is not None


def test_codes_of_a_batch_of_another_product(seeded: Ledger) -> None:
    with pytest.raises(IssueRefused, match="not declared"):
        _issue(seeded, 3, gtin=OTHER_GTIN)


def test_guessing_finds_no_genuine_code_and_a_typo_is_told_apart(seeded: Ledger) -> None:
    """1,000,000 random well-formed serials against a batch of 100,000: none is issued."""
    from qr.serials import ALPHABET, MistypedSerial, parse_serial

    serials = _issue(seeded, 100_000)
    guesses = new_serials(1_000_000)
    with read_transaction(seeded.engine) as conn:
        assert find_codes(conn, guesses) == {}
        assert len(find_codes(conn, serials[:1000])) == 1000
    genuine = serials[0]
    for position in range(len(genuine)):
        for symbol in ALPHABET:
            if symbol != genuine[position]:
                typo = genuine[:position] + symbol + genuine[position + 1 :]
                with pytest.raises(MistypedSerial):
                    parse_serial(typo)


def test_a_serial_stored_twice_is_a_collision_not_a_second_code(seeded: Ledger) -> None:
    """The primary key refuses a serial drawn again; issue_codes then draws anew."""
    from qr.issuance import SerialCollision, store_serials

    serials = sorted(new_serials(10))
    store_serials(seeded.engine, gtin=GTIN, batch=BATCH, serials=serials, root="first")
    with pytest.raises(SerialCollision):
        store_serials(seeded.engine, gtin=GTIN, batch=BATCH, serials=serials[:3], root="second")
    assert _stored(seeded.engine) == 10
