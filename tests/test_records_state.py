"""Record kinds against real databases: every kind lands in its projection, replay rebuilds
the same state after a long random history, imports report refused lines, seeds reproduce."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from credit.catalogue import violation_item_check
from ledger.records.entry import record_entry
from ledger.records.projector import Projector, replay, subject_entries
from ledger.store.dbverify import verify_database
from ledger.store.entries import NewEntry
from ledger.store.log import Ledger
from ledger.tlog.envelope import parse_envelope
from ledger.tlog.jcs import canonicalize
from ledger.tlog.note import Signer
from lookup_api.bulk.importer import import_records
from lookup_api.bulk.seed import seed_ledger
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

OFFICER = "officer:test"
SERIALS_ROOT = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def projected(engine: Engine, signer: Signer) -> Ledger:
    return Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])


def add(ledger: Ledger, kind: str, payload: dict[str, Any], time: str | None = None) -> int:
    result = ledger.append([record_entry(kind, payload, OFFICER, time)])
    assert not result.rejected, result.rejected
    return result.first_index


# Before the blacklist steps of a test, which give their own times in 2025: the log's
# entry times never decrease, so what comes before them is stamped no later.
EARLY = "2025-04-30T02:00:00.000Z"


def early(ledger: Ledger, kind: str, payload: dict[str, Any]) -> int:
    return add(ledger, kind, payload, EARLY)


def refused(ledger: Ledger, kind: str, payload: dict[str, Any], time: str | None = None) -> str:
    size = ledger.size()
    result = ledger.append([record_entry(kind, payload, OFFICER, time)])
    assert result.rejected and ledger.size() == size
    return str(result.rejected[0])


def rows(ledger: Ledger, table: str, where: str = "1 = 1") -> list[tuple[Any, ...]]:
    with ledger.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} WHERE {where}")]


def product(gtin: str, owner: str) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "name": "奶粉",
        "hs_code": "1901101000",
        "origin_country": "NZ",
        "owner_uscc": owner,
        "risk_class": "high",
    }


def batch(gtin: str, name: str, declarant: str) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "batch": name,
        "quantity": 100,
        "produced_on": "2025-01-01",
        "port": "CNSZX",
        "declaration_no": "531620250001",
        "declarant_uscc": declarant,
    }


GTIN = "06901234567892"


def test_every_kind_lands_in_its_projection(projected: Ledger) -> None:
    a, body = uscc(1), uscc(2)
    early(projected, "enterprise.filed", enterprise_payload(1))
    early(projected, "enterprise.filed", enterprise_payload(2, roles=["inspection_body"]))
    early(projected, "enterprise.amended", {"uscc": a, "name": "新名字"})
    early(projected, "product.filed", product(GTIN, a))
    early(projected, "batch.declared", batch(GTIN, "B1", a))
    early(
        projected,
        "inspection.result",
        {
            "gtin": GTIN,
            "batch": "B1",
            "outcome": "non_conformant",
            "inspected_on": "2025-02-01",
            "body_uscc": body,
            "accepted_third_party": True,
            "items": ["标签"],
        },
    )
    violation = early(
        projected,
        "violation.recorded",
        {"uscc": a, "item": "ciq.adulteration", "occurred_on": "2025-03-01", "case_no": "1"},
    )
    early(projected, "violation.revoked", {"uscc": a, "entry": violation, "reason": "复议撤销"})
    complaint = early(
        projected,
        "complaint.received",
        {"uscc": a, "channel": "12365", "gtin": GTIN, "summary": "包装破损"},
    )
    early(projected, "complaint.verified", {"uscc": a, "entry": complaint})
    recall = early(
        projected,
        "recall.issued",
        {"gtin": GTIN, "batches": ["B1"], "reason": "不合格", "issued_on": "2025-02-02"},
    )
    early(projected, "recall.closed", {"gtin": GTIN, "entry": recall})
    early(projected, "sanction.yellow_card", {"uscc": a, "reason": "多次差错", "on": "2025-04-01"})
    early(projected, "sanction.interview", {"uscc": a, "reason": "约谈", "on": "2025-04-02"})
    add(projected, "blacklist.noticed", {"uscc": a, "reason": "拟列入"}, "2025-05-01T02:00:00.000Z")
    add(projected, "blacklist.listed", {"uscc": a, "reason": "列入"}, "2025-06-01T02:00:00.000Z")
    add(projected, "blacklist.removed", {"uscc": a, "reason": "修复"}, "2025-12-01T02:00:00.000Z")
    request = add(projected, "credit.repair_requested", {"uscc": a, "grounds": "已整改"})
    add(projected, "credit.repair_decided", {"uscc": a, "request": request, "approved": True})
    add(
        projected,
        "credit.graded",
        {
            "uscc": a,
            "grade": "B",
            "score": 70,
            "policy": "cn-ciq-2014",
            "as_of_size": 10,
            "reasons_digest": SERIALS_ROOT,
        },
    )
    add(
        projected,
        "codes.issued",
        {
            "gtin": GTIN,
            "batch": "B1",
            "count": 10,
            "serials_root": SERIALS_ROOT,
            "key_id": "0a1b2c3d",
        },
    )
    add(
        projected,
        "codes.revoked",
        {"gtin": GTIN, "batch": "B1", "serials": ["0123456789ABCD"], "reason": "标签损毁"},
    )
    asked = add(projected, "draw.requested", {"draw_id": "d1", "policy": "cn-ciq-2014", "count": 1})
    made = {"population": 2, "count": 1, "seed_size": asked + 1, "picks": [a], "draw_id": "d1"}
    add(projected, "draw.made", made | {"policy": "cn-ciq-2014", "request": asked})
    add(projected, "product.revoked", {"gtin": GTIN, "reason": "停止进口"})
    add(projected, "enterprise.revoked", {"uscc": body, "reason": "注销"})

    [ent] = rows(projected, "proj_enterprises", f"uscc = '{a}'")
    named = dict(
        zip(
            [
                "uscc",
                "name",
                "roles",
                "address",
                "country",
                "filed_on",
                "status",
                "filed_entry",
                "updated_entry",
                "revoked_entry",
                "blacklist",
                "blacklist_entry",
                "noticed_time",
                "grade",
                "score",
                "graded_entry",
            ],
            ent,
            strict=True,
        )
    )
    assert named["name"] == "新名字" and named["blacklist"] == "none" and named["grade"] == "B"
    assert rows(projected, "proj_enterprises", f"uscc = '{body}'")[0][6] == "revoked"
    assert rows(projected, "proj_products")[0][6] == "revoked"
    assert rows(projected, "proj_batches")[0][9] == "non_conformant"
    assert rows(projected, "proj_batches")[0][12] == 10  # codes issued
    assert rows(projected, "proj_violations")[0][9] is not None  # revoked
    assert rows(projected, "proj_complaints")[0][5] is not None  # verified
    assert rows(projected, "proj_recalls")[0][5] is not None  # closed
    assert len(rows(projected, "proj_sanctions")) == 2
    assert [r[2] for r in rows(projected, "proj_blacklist_events")] == [
        "noticed",
        "listed",
        "removed",
    ]
    assert rows(projected, "proj_repairs")[0][4] in (1, True)
    assert len(rows(projected, "proj_grades")) == 1
    assert len(rows(projected, "proj_code_revocations")) == 1
    assert len(rows(projected, "proj_draws")) == 1
    # Every entry is found again through its subject (what a redaction's rebuild relies on).
    entries = projected.entries(0, projected.size())
    with projected.engine.connect() as conn:
        found = {
            index
            for subject in {parse_envelope(e.leaf_input).subject for e in entries}
            for index in subject_entries(conn, subject)
        }
    assert found == set(range(projected.size()))
    assert replay(projected.engine).equal


def test_cross_record_rules_refuse_and_write_nothing(projected: Ledger) -> None:
    a = uscc(1)
    assert "not filed" in refused(projected, "product.filed", product(GTIN, a))
    early(projected, "enterprise.filed", enterprise_payload(1))
    assert "already filed" in refused(projected, "enterprise.filed", enterprise_payload(1))
    assert "not filed" in refused(projected, "batch.declared", batch(GTIN, "B1", a))
    early(projected, "product.filed", product(GTIN, a))
    assert "not declared" in refused(
        projected,
        "inspection.result",
        {
            "gtin": GTIN,
            "batch": "NOPE",
            "outcome": "conformant",
            "inspected_on": "2025-01-02",
            "accepted_third_party": False,
        },
    )
    assert "catalogue" in refused(
        projected,
        "violation.recorded",
        {"uscc": a, "item": "ciq.unknown-item", "occurred_on": "2025-01-01", "case_no": "x"},
    )
    assert "not a violation" in refused(
        projected, "violation.revoked", {"uscc": a, "entry": 0, "reason": "x"}
    )
    add(projected, "blacklist.noticed", {"uscc": a, "reason": "r"}, "2025-05-01T02:00:00.000Z")
    assert "30 days" in refused(
        projected, "blacklist.listed", {"uscc": a, "reason": "r"}, "2025-05-30T02:00:00.000Z"
    )
    add(projected, "blacklist.listed", {"uscc": a, "reason": "r"}, "2025-05-31T02:00:00.000Z")
    add(projected, "enterprise.revoked", {"uscc": a, "reason": "注销"})
    assert "revoked" in refused(
        projected, "sanction.yellow_card", {"uscc": a, "reason": "r", "on": "2025-06-01"}
    )
    assert "revoked" in refused(projected, "batch.declared", batch(GTIN, "B2", a))


TRACKED = {
    "violation.recorded": "violation",
    "complaint.received": "complaint",
    "recall.issued": "recall",
    "credit.repair_requested": "repair",
}


def _random_history(ledger: Ledger, rng: random.Random, steps: int) -> None:
    """Valid and invalid records of every sort, and redactions, in random order."""
    seed_ledger(ledger, 40, seed=rng.randrange(1000))
    with ledger.engine.connect() as conn:
        usccs = [r[0] for r in conn.exec_driver_sql("SELECT uscc FROM proj_enterprises")]
        products = [
            tuple(r) for r in conn.exec_driver_sql("SELECT gtin, owner_uscc FROM proj_products")
        ]
        batches = [tuple(r) for r in conn.exec_driver_sql("SELECT gtin, batch FROM proj_batches")]
    entries: dict[str, list[int]] = {"violation": [], "complaint": [], "recall": [], "repair": []}
    for step in range(steps):
        a = rng.choice(usccs)
        gtin, owner = rng.choice(products)
        bgtin, bname = rng.choice(batches)
        choice = rng.randrange(12)
        kind, payload = {
            0: (
                "violation.recorded",
                {
                    "uscc": a,
                    "item": rng.choice(["ciq.declaration-error", "ciq.adulteration", "bad.item"]),
                    "occurred_on": "2026-01-01",
                    "case_no": f"c{step}",
                },
            ),
            1: (
                "violation.revoked",
                {"uscc": a, "entry": rng.choice(entries["violation"] or [0]), "reason": "r"},
            ),
            2: (
                "complaint.received",
                {"uscc": owner, "channel": "platform", "gtin": gtin, "summary": f"投诉{step}"},
            ),
            3: (
                "complaint.verified",
                {"uscc": owner, "entry": rng.choice(entries["complaint"] or [0])},
            ),
            4: (
                "recall.issued",
                {"gtin": bgtin, "batches": [bname], "reason": "r", "issued_on": "2026-10-01"},
            ),
            5: ("recall.closed", {"gtin": bgtin, "entry": rng.choice(entries["recall"] or [0])}),
            6: ("enterprise.amended", {"uscc": a, "address": f"地址{step}"}),
            7: (
                "inspection.result",
                {
                    "gtin": bgtin,
                    "batch": bname,
                    "outcome": rng.choice(["conformant", "non_conformant"]),
                    "inspected_on": f"2026-{rng.randint(1, 10):02d}-01",
                    "accepted_third_party": False,
                },
            ),
            8: ("credit.repair_requested", {"uscc": a, "grounds": "g"}),
            9: (
                "credit.repair_decided",
                {
                    "uscc": a,
                    "request": rng.choice(entries["repair"] or [0]),
                    "approved": rng.random() < 0.5,
                },
            ),
            10: ("sanction.yellow_card", {"uscc": a, "reason": "r", "on": "2026-02-02"}),
            11: ("enterprise.revoked", {"uscc": a, "reason": "r"}),
        }[choice]
        if choice == 11 and rng.random() < 0.8:
            continue  # revocations are rare
        result = ledger.append([record_entry(kind, payload, OFFICER)])
        if result.leaf_hashes and kind in TRACKED:
            entries[TRACKED[kind]].append(result.first_index)
        if rng.random() < 0.03:  # redact something, at random
            target = rng.randrange(ledger.size())
            ledger.append(
                [
                    NewEntry(
                        "entry.redacted",
                        f"entry:{target}",
                        canonicalize({"index": target, "reason": "法院裁定"}),
                        OFFICER,
                        redacts=target,
                    )
                ]
            )


def test_replay_rebuilds_the_live_state_after_a_long_random_history(projected: Ledger) -> None:
    rng = random.Random(20261122)
    _random_history(projected, rng, 600)
    assert rows(projected, "ledger_redactions")  # the history did redact
    report = replay(projected.engine)
    assert report.equal, report.examples
    assert report.entries == projected.size()
    verify_database(projected.engine, projected.verifier, ORIGIN)


def test_replay_notices_and_repairs_a_damaged_projection(projected: Ledger) -> None:
    seed_ledger(projected, 30, seed=5)
    with projected.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE proj_enterprises SET name = 'tampered' WHERE uscc IN "
            "(SELECT uscc FROM proj_enterprises LIMIT 1)"
        )
        conn.exec_driver_sql(
            "DELETE FROM proj_batches WHERE batch IN (SELECT batch FROM proj_batches LIMIT 2)"
        )
    report = replay(projected.engine)
    assert not report.equal
    assert set(report.differences) == {"proj_enterprises", "proj_batches"}
    fixed = replay(projected.engine, apply_result=True)
    assert fixed.applied
    assert replay(projected.engine).equal


def test_redaction_rebuilds_the_subject_and_keeps_proofs(projected: Ledger) -> None:
    a = uscc(1)
    add(projected, "enterprise.filed", enterprise_payload(1))
    complaint = add(
        projected,
        "complaint.received",
        {"uscc": a, "channel": "12365", "summary": "消费者张三 13800000000"},
    )
    add(projected, "complaint.verified", {"uscc": a, "entry": complaint})
    before = projected.entry(complaint)
    assert before is not None
    redaction = NewEntry(
        "entry.redacted",
        f"entry:{complaint}",
        canonicalize({"index": complaint, "reason": "个人信息保护"}),
        OFFICER,
        redacts=complaint,
    )
    projected.append([redaction])
    after = projected.entry(complaint)
    assert after is not None and after.payload is None and after.salt is None
    assert rows(projected, "proj_complaints") == []  # the complaint's row is gone with its payload
    assert rows(projected, "proj_enterprises")  # the rest of the subject is rebuilt
    size = projected.size()
    from ledger.tlog import merkle

    merkle.verify_inclusion(
        complaint,
        size,
        before.leaf_hash,
        projected.inclusion_proof(complaint, size),
        projected.root(size),
    )
    assert replay(projected.engine).equal
    assert verify_database(projected.engine, projected.verifier, ORIGIN).redacted == 1


def _write_lines(path: Path, lines: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
            handle.write("\n")
    return path


@pytest.fixture
def import_file(tmp_path: Path) -> Path:
    a = uscc(1)
    return _write_lines(
        tmp_path / "records.jsonl",
        [
            {"kind": "enterprise.filed", "payload": enterprise_payload(1)},  # 1 ok
            {
                "kind": "enterprise.filed",
                "payload": {**enterprise_payload(2), "uscc": "91440300000000021X"},
            },  # 2 bad check
            "this is not json",  # 3
            {"kind": "product.filed", "payload": product(GTIN, uscc(9))},  # 4 owner not filed
            {"kind": "product.filed", "payload": product(GTIN, a)},  # 5 ok
            {
                "kind": "batch.declared",
                "payload": {**batch(GTIN, "B1", a), "produced_on": "2099-01-01"},
            },  # 6 future
            {
                "kind": "batch.declared",
                "payload": batch(GTIN, "B1", a),
                "extra": 1,
            },  # 7 unknown key
            "",  # 8 blank: skipped
            {"kind": "batch.declared", "payload": batch(GTIN, "B1", a)},  # 9 ok
            {
                "kind": "enterprise.filed",
                "payload": enterprise_payload(3),
                "time": "yesterday",
            },  # 10 bad time
        ],
    )


def test_import_reports_refused_lines_with_numbers_and_reasons(
    projected: Ledger, import_file: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "rejected.jsonl"
    with report_path.open("w", encoding="utf-8") as out:
        report = import_records(projected, import_file, report_to=out)
    assert report.imported == 3 and projected.size() == 3
    refused_lines = [json.loads(line) for line in report_path.read_text().splitlines()]
    by_line = {r["line"]: r for r in refused_lines}
    assert set(by_line) == {2, 3, 4, 6, 7, 10}
    assert by_line[2]["field"] == "uscc" and "check character" in by_line[2]["reason"]
    assert by_line[3]["field"] is None and "JSON" in by_line[3]["reason"]
    assert by_line[4]["field"] == "owner_uscc" and "not filed" in by_line[4]["reason"]
    assert by_line[6]["field"] == "produced_on" and "future" in by_line[6]["reason"]
    assert by_line[7]["field"] == "extra"
    assert by_line[10]["field"] == "time"
    assert replay(projected.engine).equal


def test_strict_import_writes_no_part_of_a_batch_with_a_refused_line(
    projected: Ledger, import_file: Path, tmp_path: Path
) -> None:
    # Batches of two valid lines: (1, 4) spans refused lines 2 and 3, (5, 9) spans 6 and 7.
    report = import_records(projected, import_file, strict=True, batch_size=2)
    assert (report.imported, report.skipped_batches, report.rejected) == (0, 2, 5)
    assert projected.size() == 0
    # A rule refusal inside a batch also keeps the whole batch out.
    a = uscc(1)
    clean = _write_lines(
        tmp_path / "clean.jsonl",
        [
            {"kind": "enterprise.filed", "payload": enterprise_payload(1)},
            {"kind": "product.filed", "payload": product(GTIN, a)},
            {
                "kind": "product.filed",
                "payload": product("09506000134352", uscc(9)),
            },  # owner unknown
            {"kind": "enterprise.filed", "payload": enterprise_payload(2)},
        ],
    )
    report = import_records(projected, clean, strict=True, batch_size=2)
    assert (report.imported, report.rejected, report.skipped_batches) == (2, 1, 1)
    assert [e.leaf_input.count(b"enterprise.filed") for e in projected.entries(0, 2)] == [1, 0]


def inspected(gtin: str, name: str) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "batch": name,
        "outcome": "conformant",
        "inspected_on": "2025-01-02",
        "accepted_third_party": False,
    }


def test_import_refuses_a_batch_declared_long_before(
    engine: Engine, signer: Signer, tmp_path: Path
) -> None:
    """Following its own batches the importer does not look each new batch up; the
    database's key still refuses one declared before, with the same report."""
    a = uscc(1)
    first = Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])
    add(first, "enterprise.filed", enterprise_payload(1))
    add(first, "product.filed", product(GTIN, a))
    original = add(first, "batch.declared", batch(GTIN, "B1", a))
    add(first, "batch.declared", batch(GTIN, "B8", a))
    later = _write_lines(
        tmp_path / "later.jsonl",
        [
            {"kind": "batch.declared", "payload": batch(GTIN, "B2", a)},
            {"kind": "batch.declared", "payload": batch(GTIN, "B3", a)},
            {"kind": "batch.declared", "payload": batch(GTIN, "B1", a)},  # declared before
            {"kind": "batch.declared", "payload": batch(GTIN, "B4", a)},
            {"kind": "batch.declared", "payload": batch(GTIN, "B8", uscc(9))},  # unknown declarant
            {"kind": "batch.declared", "payload": batch(GTIN, "B6", a)},
            {"kind": "inspection.result", "payload": inspected(GTIN, "B8")},  # B8 exists
            {"kind": "inspection.result", "payload": inspected(GTIN, "B5")},  # not declared
        ],
    )
    # A new process: its row cache starts empty; from the second batch on it runs on it.
    importer = Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])
    report = import_records(importer, later, batch_size=2)
    assert (report.imported, report.rejected, report.batches) == (5, 3, 4)
    assert [(r.line, r.field) for r in report.examples] == [
        (3, "batch"),
        (5, "declarant_uscc"),
        (8, "batch"),
    ]
    assert "already declared" in report.examples[0].reason
    assert "not declared" in report.examples[2].reason
    declared = rows(importer, "proj_batches", "batch = 'B1'")
    assert declared[0][8] == original  # declared_entry: still the first declaration
    inspected_b8 = rows(importer, "proj_batches", "batch = 'B8'")
    assert inspected_b8[0][9] == "conformant"  # line 7 applied to the stored batch
    assert sorted(r[1] for r in rows(importer, "proj_batches")) == [
        "B1",
        "B2",
        "B3",
        "B4",
        "B6",
        "B8",
    ]
    assert replay(engine).equal


def test_seed_is_reproducible(tmp_path: Path, signer: Signer) -> None:
    from ledger.store.engine import create_db_engine, migrate

    payloads = []
    for name in ("one", "two"):
        engine = create_db_engine(f"sqlite:///{tmp_path / name}.db")
        migrate(engine)
        ledger = Ledger(engine, signer, ORIGIN, hooks=[Projector(violation_item_check())])
        summary = seed_ledger(ledger, 25, seed=7)
        assert summary.records == ledger.size()
        payloads.append(
            [
                (e.leaf_input.split(b'"payload_hash"')[0], e.payload)
                for e in ledger.entries(0, ledger.size())
            ]
        )
        engine.dispose()
    assert payloads[0] == payloads[1]
