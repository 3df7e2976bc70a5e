"""Record kinds (DESIGN.md "Record kinds"): one valid payload per kind, subjects, canonical
payloads, normalisation, and a table of refusals that name the offending field."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import unicodedata
from typing import Any, Protocol

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.records.ids import org_code_check_character, uscc_check_character
from ledger.records.kinds import KINDS, RECORD_TYPES, ParsedRecord, RecordError, parse_record

TODAY = dt.date(2026, 11, 22)
TOMORROW = "2026-11-23"

U1 = "9144030034527391XN"
U2 = "91110108600257467C"
U3 = "N21100006000373414"  # registration authority N
U4 = "A1110000MB0000000J"  # registration authority A
GTIN13 = "6901234567892"
GTIN13_STORED = "06901234567892"
GTIN14 = "09506000134352"
HASH = base64.b64encode(bytes(range(32))).decode()
KEY_ID = "0a1b2c3d"
SERIAL_A = "0123456789ABCDEFGHJKMNPQRS"  # Crockford base32, 26 characters
SERIAL_B = "7TVWXYZ01234"  # 12 characters
BATCH = "L2025-06.01_A"


def _wrong_check(code: str) -> str:
    """The same USCC with a different (wrong) final check character."""
    return code[:17] + ("0" if code[17] != "0" else "1")


def _wrong_org_check(code: str) -> str:
    """A USCC whose GB 32100 check holds but whose GB 11714 organisation check does not."""
    body = code[8:16]
    wrong = "0" if org_code_check_character(body) != "0" else "1"
    first17 = code[:16] + wrong
    return first17 + uscc_check_character(first17)


VALID: dict[str, dict[str, Any]] = {
    "enterprise.filed": {
        "uscc": U1,
        "name": "深圳市示例进出口贸易有限公司",
        "roles": ["producer", "importer"],
        "address": "广东省深圳市福田区福华三路 100 号",
        "country": "CN",
        "filed_on": "2024-03-15",
    },
    "enterprise.amended": {
        "uscc": U1,
        "name": "深圳市示例国际贸易有限公司",
        "roles": ["importer", "cbec_platform"],
        "address": "广东省深圳市南山区科技园 8 号",
        "country": "CN",
    },
    "enterprise.revoked": {"uscc": U1, "reason": "营业执照已注销"},
    "product.filed": {
        "gtin": GTIN13,
        "name": "Arabica coffee beans, roasted, 1 kg",
        "hs_code": "0901.21",
        "origin_country": "BR",
        "owner_uscc": U2,
        "risk_class": "medium",
    },
    "product.revoked": {"gtin": GTIN13, "reason": "product discontinued"},
    "batch.declared": {
        "gtin": GTIN13,
        "batch": BATCH,
        "quantity": 1200,
        "produced_on": "2025-06-01",
        "expires_on": "2026-06-01",
        "port": "CNSHA",
        "declaration_no": "222020251000123456",
        "declarant_uscc": U2,
    },
    "inspection.result": {
        "gtin": GTIN13,
        "batch": BATCH,
        "outcome": "non_conformant",
        "items": ["标签不合格", "microbiology"],
        "inspected_on": "2025-06-10",
        "body_uscc": U3,
        "accepted_third_party": True,
    },
    "violation.recorded": {
        "uscc": U1,
        "item": "label.no-chinese",
        "occurred_on": "2025-02-01",
        "case_no": "深关缉违字〔2025〕12号",
        "fine_fen": 500000,
        "basis": "《进出口商品检验法》第三十五条",
        "note": "first offence",
    },
    "violation.revoked": {"uscc": U1, "entry": 42, "reason": "overturned on administrative review"},
    "complaint.received": {
        "uscc": U1,
        "channel": "12365",
        "gtin": GTIN14,
        "summary": "商品无中文标签",
    },
    "complaint.verified": {"uscc": U1, "entry": 7},
    "recall.issued": {
        "gtin": GTIN13,
        "batches": ["L2", "L1"],
        "reason": "undeclared allergen",
        "issued_on": "2025-07-01",
    },
    "recall.closed": {"gtin": GTIN13, "entry": 9},
    "sanction.yellow_card": {"uscc": U1, "reason": "repeated label defects", "on": "2025-08-01"},
    "sanction.interview": {"uscc": U1, "reason": "约谈企业负责人", "on": "2025-08-02"},
    "blacklist.noticed": {"uscc": U1, "reason": "smuggling", "basis": "《海关法》第八十二条"},
    "blacklist.listed": {"uscc": U1, "reason": "smuggling", "basis": "《海关法》第八十二条"},
    "blacklist.removed": {"uscc": U1, "reason": "listing period expired"},
    "credit.repair_requested": {"uscc": U1, "grounds": "fine paid and corrective measures taken"},
    "credit.repair_decided": {"uscc": U1, "request": 12, "approved": True, "note": "同意修复"},
    "credit.graded": {
        "uscc": U1,
        "grade": "A",
        "score": 95,
        "policy": "cn-ciq-2025.1",
        "as_of_size": 100,
        "reasons_digest": HASH,
    },
    "codes.issued": {
        "gtin": GTIN14,
        "batch": BATCH,
        "count": 1000,
        "serials_root": HASH,
        "key_id": KEY_ID,
    },
    "codes.revoked": {
        "gtin": GTIN14,
        "batch": BATCH,
        "serials": [SERIAL_B, SERIAL_A],
        "reason": "labels stolen from the printer",
    },
    "draw.requested": {
        "draw_id": "2026-q1-shenzhen",
        "policy": "cn-ciq-2014",
        "count": 3,
        "grades": ["C", "D"],
        "port": "CNSZX",
    },
    "draw.made": {"population": 500, "count": 3, "seed_size": 1024, "picks": [U1, U2, U3]},
    "entry.redacted": {"index": 5, "reason": "personal data, PIPL art. 47"},
}

SUBJECTS: dict[str, str] = {
    "enterprise.filed": f"uscc:{U1}",
    "enterprise.amended": f"uscc:{U1}",
    "enterprise.revoked": f"uscc:{U1}",
    "product.filed": f"gtin:{GTIN13_STORED}",
    "product.revoked": f"gtin:{GTIN13_STORED}",
    "batch.declared": f"batch:{GTIN13_STORED}/{BATCH}",
    "inspection.result": f"batch:{GTIN13_STORED}/{BATCH}",
    "violation.recorded": f"uscc:{U1}",
    "violation.revoked": f"uscc:{U1}",
    "complaint.received": f"uscc:{U1}",
    "complaint.verified": f"uscc:{U1}",
    "recall.issued": f"gtin:{GTIN13_STORED}",
    "recall.closed": f"gtin:{GTIN13_STORED}",
    "sanction.yellow_card": f"uscc:{U1}",
    "sanction.interview": f"uscc:{U1}",
    "blacklist.noticed": f"uscc:{U1}",
    "blacklist.listed": f"uscc:{U1}",
    "blacklist.removed": f"uscc:{U1}",
    "credit.repair_requested": f"uscc:{U1}",
    "credit.repair_decided": f"uscc:{U1}",
    "credit.graded": f"uscc:{U1}",
    "codes.issued": f"batch:{GTIN14}/{BATCH}",
    "codes.revoked": f"batch:{GTIN14}/{BATCH}",
    "draw.requested": "draw:2026-q1-shenzhen",
    "entry.redacted": "entry:5",
    # draw.made: "draw:{id}", checked separately
}

# Fields DESIGN.md marks optional ("?"); in enterprise.amended every changed field is.
OPTIONAL: dict[str, set[str]] = {
    "enterprise.amended": {"name", "roles", "address", "country"},
    "batch.declared": {"expires_on"},
    "inspection.result": {"items", "body_uscc"},
    "violation.recorded": {"fine_fen", "basis", "note"},
    "complaint.received": {"gtin"},
    "blacklist.noticed": {"basis"},
    "blacklist.listed": {"basis"},
    "credit.repair_decided": {"note"},
    "draw.requested": {"grades", "port"},
}

REQUIRED = [
    pytest.param(kind, field, id=f"{kind}-{field}")
    for kind in sorted(VALID)
    for field in VALID[kind]
    if field not in OPTIONAL.get(kind, set())
]
OPTIONALS = [
    pytest.param(kind, field, id=f"{kind}-{field}")
    for kind in sorted(OPTIONAL)
    for field in sorted(OPTIONAL[kind])
]


DROP = object()


def valid(kind: str, **changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(VALID[kind])
    for name, value in changes.items():
        if value is DROP:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


class Parsed(Protocol):
    """A parsed record whose fields the tests read by name (the kind decides them)."""

    @property
    def kind(self) -> str: ...
    @property
    def record(self) -> Any: ...
    @property
    def subject(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


def parse(kind: str, payload: Any, today: dt.date | None = None) -> Parsed:
    return parse_record(kind, payload, today=today)


def refused(kind: str, payload: Any, today: dt.date | None = None) -> RecordError:
    with pytest.raises(RecordError) as excinfo:
        parse_record(kind, payload, today=today)
    return excinfo.value


# --- the kinds ------------------------------------------------------------------------------


def test_every_kind_has_a_valid_payload() -> None:
    assert len(RECORD_TYPES) == 26
    assert set(VALID) == set(RECORD_TYPES)
    assert set(KINDS) == set(RECORD_TYPES)
    assert list(KINDS) == sorted(KINDS)
    assert set(SUBJECTS) | {"draw.made"} == set(RECORD_TYPES)


@pytest.mark.parametrize("kind", KINDS)
def test_valid_payload_parses_from_dict_and_json(kind: str) -> None:
    from_dict = parse(kind, valid(kind))
    from_bytes = parse(kind, json.dumps(valid(kind), ensure_ascii=False).encode())
    from_ascii_json = parse(kind, json.dumps(valid(kind)).encode())
    from_str = parse(kind, json.dumps(valid(kind), indent=2))
    for parsed in (from_dict, from_bytes, from_ascii_json, from_str):
        assert isinstance(parsed, ParsedRecord)
        assert parsed.kind == kind
        assert isinstance(parsed.payload, bytes)
        assert parsed.payload == from_dict.payload
        assert parsed.subject == from_dict.subject
        assert parsed.record == from_dict.record
    # The dates DESIGN.md forbids in the future are all in the past of TODAY.
    assert parse(kind, valid(kind), today=TODAY).payload == from_dict.payload


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_subject(kind: str) -> None:
    assert parse(kind, valid(kind)).subject == SUBJECTS[kind]


def test_a_draw_request_and_a_draw_made_on_request() -> None:
    asked = valid("draw.requested", roster=["li", "wang"], inspectors=1)
    assert parse("draw.requested", asked).subject == "draw:2026-q1-shenzhen"
    with pytest.raises(RecordError, match="inspectors: cannot exceed the roster"):
        parse("draw.requested", {**asked, "inspectors": 3})
    with pytest.raises(RecordError, match="roster: a roster and how many"):
        parse("draw.requested", {k: v for k, v in asked.items() if k != "inspectors"})
    with pytest.raises(RecordError, match="draw_id"):
        parse("draw.requested", {k: v for k, v in asked.items() if k != "draw_id"})
    made = valid("draw.made", draw_id="q1", policy="cn-ciq-2014", request=1000)
    assert parse("draw.made", made).subject == "draw:q1"
    with pytest.raises(RecordError, match="request: a draw made on request names"):
        parse("draw.made", {k: v for k, v in made.items() if k != "policy"})
    with pytest.raises(RecordError, match="seed_size: the seed's checkpoint must cover"):
        parse("draw.made", {**made, "request": 1024})


def test_draw_subject() -> None:
    parsed = parse("draw.made", valid("draw.made"))
    assert re.fullmatch(r"draw:[0-9a-f]{8,64}", parsed.subject)
    # Derived from the payload only: key order and JSON spelling do not matter ...
    reordered = dict(reversed(list(valid("draw.made").items())))
    assert parse("draw.made", reordered).subject == parsed.subject
    assert parse("draw.made", json.dumps(reordered).encode()).subject == parsed.subject
    # ... but another draw is another subject.
    other = parse("draw.made", valid("draw.made", picks=[U1, U2, U4]))
    assert other.subject != parsed.subject


@pytest.mark.parametrize("kind", KINDS)
def test_canonical_payload_is_rfc8785_and_idempotent(kind: str) -> None:
    parsed = parse(kind, valid(kind))
    assert parsed.payload == rfc8785.dumps(json.loads(parsed.payload))
    again = parse(kind, parsed.payload)
    assert again.payload == parsed.payload
    assert again.subject == parsed.subject
    assert parse(kind, json.loads(parsed.payload)).payload == parsed.payload


@pytest.mark.parametrize("kind", KINDS)
def test_key_order_and_whitespace_do_not_change_the_canonical_payload(kind: str) -> None:
    payload = valid(kind)
    reordered = dict(reversed(list(payload.items())))
    spaced = json.dumps(reordered, indent=4, ensure_ascii=True).encode()
    assert parse(kind, reordered).payload == parse(kind, payload).payload
    assert parse(kind, spaced).payload == parse(kind, payload).payload


@pytest.mark.parametrize(("kind", "field"), REQUIRED)
def test_missing_required_field(kind: str, field: str) -> None:
    err = refused(kind, valid(kind, **{field: DROP}))
    assert err.field == field
    assert field in str(err)
    # The same from JSON bytes.
    err = refused(kind, json.dumps(valid(kind, **{field: DROP})).encode())
    assert err.field == field


@pytest.mark.parametrize(("kind", "field"), OPTIONALS)
def test_optional_field_may_be_omitted_or_null(kind: str, field: str) -> None:
    omitted = parse(kind, valid(kind, **{field: DROP}))
    null = parse(kind, valid(kind, **{field: None}))
    assert omitted.payload == null.payload
    assert field not in json.loads(omitted.payload)
    assert omitted.subject == parse(kind, valid(kind)).subject


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_extra_field(kind: str) -> None:
    err = refused(kind, valid(kind, colour="red"))
    assert err.field == "colour"
    err = refused(kind, json.dumps(valid(kind, colour="red")).encode())
    assert err.field == "colour"


@pytest.mark.parametrize("kind", ["enterprise.created", "", "ENTERPRISE.FILED", "enterprise"])
def test_unknown_kind(kind: str) -> None:
    err = refused(kind, valid("enterprise.filed"))
    assert err.field == "kind"


@pytest.mark.parametrize(
    "payload", [b"{", b"", b"not json", "{", b'{"uscc": ', b'{"uscc": "x",}', b"{'uscc': 1}"]
)
def test_payload_that_is_not_json(payload: bytes | str) -> None:
    err = refused("enterprise.revoked", payload)
    assert err.field == "payload"


# --- the table of refusals -----------------------------------------------------------------

# Each case: (kind, changes to the valid payload, expected err.field, today).
C: list[Any] = []


def case(case_id: str, kind: str, field: str, today: dt.date | None = None, **changes: Any) -> None:
    C.append(pytest.param(kind, changes, field, today, id=case_id))


# check characters
case("uscc-check", "enterprise.filed", "uscc", uscc=_wrong_check(U1))
case("uscc-check-P", "violation.recorded", "uscc", uscc="9144030034527391XP")
case("uscc-gb11714", "violation.recorded", "uscc", uscc=_wrong_org_check(U1))
case("owner_uscc-check", "product.filed", "owner_uscc", owner_uscc=_wrong_check(U2))
case("owner_uscc-gb11714", "product.filed", "owner_uscc", owner_uscc=_wrong_org_check(U2))
case("declarant_uscc-check", "batch.declared", "declarant_uscc", declarant_uscc=_wrong_check(U2))
case("body_uscc-check", "inspection.result", "body_uscc", body_uscc=_wrong_check(U3))
case("gtin-check-13", "product.filed", "gtin", gtin="6901234567893")
case("gtin-check-14", "codes.issued", "gtin", gtin="09506000134353")
case("gtin-check-recall", "recall.issued", "gtin", gtin="9506000134353")
case("gtin-check-complaint", "complaint.received", "gtin", gtin="09506000134353")
case("gtin-check-batch", "batch.declared", "gtin", gtin="6901234567890")
# wrong lengths and formats
case("uscc-17", "enterprise.revoked", "uscc", uscc=U1[:17])
case("uscc-19", "enterprise.revoked", "uscc", uscc=U1 + "0")
case("uscc-letter-O", "enterprise.revoked", "uscc", uscc="91440O0034527391XN")
case("gtin-short", "product.revoked", "gtin", gtin="123")
case("gtin-15", "product.revoked", "gtin", gtin="0" + GTIN14)
case("gtin-letters", "product.revoked", "gtin", gtin="0950600013435A")
case("hs-5", "product.filed", "hs_code", hs_code="09012")
case("hs-11", "product.filed", "hs_code", hs_code="09012100001")
case("hs-letters", "product.filed", "hs_code", hs_code="0901ab")
case("country-UK", "enterprise.filed", "country", country="UK")
case("country-XX", "enterprise.filed", "country", country="XX")
case("country-alpha3", "enterprise.amended", "country", country="CHN")
case("origin-XX", "product.filed", "origin_country", origin_country="XX")
case("key_id-7", "codes.issued", "key_id", key_id=KEY_ID[:7])
case("key_id-upper", "codes.issued", "key_id", key_id=KEY_ID.upper())
case("key_id-9", "codes.issued", "key_id", key_id=KEY_ID + "0")
case("serials_root-43", "codes.issued", "serials_root", serials_root=HASH[:43])
case("serials_root-hex", "codes.issued", "serials_root", serials_root="ab" * 32)
case("reasons_digest-short", "credit.graded", "reasons_digest", reasons_digest=HASH[:-4])
case("serial-11", "codes.revoked", "serials[0]", serials=["0123456789A"])
case("serial-27", "codes.revoked", "serials[1]", serials=[SERIAL_A, SERIAL_A + "T"])
case("serial-letter-I", "codes.revoked", "serials[0]", serials=["0123456789AI"])
case("serial-letter-U", "codes.revoked", "serials[0]", serials=["0123456789AU"])
case("serial-lower", "codes.revoked", "serials[0]", serials=["0123456789ab"])
case("port-4-letters", "batch.declared", "port", port="CNSH")
case("port-lower", "batch.declared", "port", port="cnsha")
case("declaration_no-33", "batch.declared", "declaration_no", declaration_no="1" * 33)
case("declaration_no-slash", "batch.declared", "declaration_no", declaration_no="2220/2025")
case("policy-upper", "credit.graded", "policy", policy="CN-2025")
case("item-space", "violation.recorded", "item", item="label missing")
# enums
case("role-unknown", "enterprise.filed", "roles[0]", roles=["farmer"])
case("role-unknown-second", "enterprise.filed", "roles[1]", roles=["importer", "Importer"])
case("role-amended", "enterprise.amended", "roles[0]", roles=["smuggler"])
case("roles-empty", "enterprise.filed", "roles", roles=[])
case("roles-empty-amended", "enterprise.amended", "roles", roles=[])
case("risk_class", "product.filed", "risk_class", risk_class="extreme")
case("risk_class-upper", "product.filed", "risk_class", risk_class="HIGH")
case("outcome", "inspection.result", "outcome", outcome="passed")
case("channel", "complaint.received", "channel", channel="email")
case("channel-int", "complaint.received", "channel", channel=12365)
# wrong types
case("quantity-str", "batch.declared", "quantity", quantity="1200")
case("quantity-float", "batch.declared", "quantity", quantity=1200.0)
case("quantity-bool", "batch.declared", "quantity", quantity=True)
case("fine_fen-str", "violation.recorded", "fine_fen", fine_fen="500000")
case("fine_fen-float", "violation.recorded", "fine_fen", fine_fen=5000.5)
case("entry-str", "violation.revoked", "entry", entry="42")
case("entry-float", "complaint.verified", "entry", entry=7.0)
case("entry-bool", "recall.closed", "entry", entry=False)
case("request-str", "credit.repair_decided", "request", request="12")
case("approved-str", "credit.repair_decided", "approved", approved="true")
case("approved-int", "credit.repair_decided", "approved", approved=1)
case("third_party-str", "inspection.result", "accepted_third_party", accepted_third_party="yes")
case("third_party-int", "inspection.result", "accepted_third_party", accepted_third_party=0)
case("score-float", "credit.graded", "score", score=95.5)
case("score-bool", "credit.graded", "score", score=True)
case("count-bool", "codes.issued", "count", count=True)
case("count-str", "draw.made", "count", count="3")
case("population-float", "draw.made", "population", population=500.0)
case("index-str", "entry.redacted", "index", index="5")
case("roles-str", "enterprise.filed", "roles", roles="importer")
case("batches-str", "recall.issued", "batches", batches="L1")
case("items-str", "inspection.result", "items", items="microbiology")
case("picks-str", "draw.made", "picks", picks=U1)
case("serials-null", "codes.revoked", "serials", serials=None)
case("name-int", "enterprise.filed", "name", name=123)
case("reason-list", "enterprise.revoked", "reason", reason=["a"])
case("uscc-int", "complaint.verified", "uscc", uscc=914403003452739100)
case("gtin-int", "product.revoked", "gtin", gtin=6901234567892)
case("filed_on-int", "enterprise.filed", "filed_on", filed_on=20240315)
case("uscc-null", "enterprise.revoked", "uscc", uscc=None)
# oversize text
case("name-201", "enterprise.filed", "name", name="x" * 201)
case("name-201-cjk", "product.filed", "name", name="名" * 201)
case("name-201-amended", "enterprise.amended", "name", name="x" * 201)
case("reason-2001", "enterprise.revoked", "reason", reason="x" * 2001)
case("reason-2001-product", "product.revoked", "reason", reason="原" * 2001)
case("reason-2001-recall", "recall.issued", "reason", reason="x" * 2001)
case("reason-2001-sanction", "sanction.yellow_card", "reason", reason="x" * 2001)
case("reason-2001-blacklist", "blacklist.listed", "reason", reason="x" * 2001)
case("reason-2001-redacted", "entry.redacted", "reason", reason="x" * 2001)
case("summary-2001", "complaint.received", "summary", summary="x" * 2001)
case("grounds-2001", "credit.repair_requested", "grounds", grounds="x" * 2001)
case("note-2001", "violation.recorded", "note", note="x" * 2001)
case("address-501", "enterprise.filed", "address", address="x" * 501)
case("basis-501", "blacklist.noticed", "basis", basis="x" * 501)
case("case_no-65", "violation.recorded", "case_no", case_no="x" * 65)
case("item-201", "inspection.result", "items[1]", items=["ok", "x" * 201])
case("items-51", "inspection.result", "items", items=["x"] * 51)
case("pick-65", "draw.made", "picks[0]", picks=["x" * 65, U2, U3])
# blank and empty text
case("name-blank", "enterprise.filed", "name", name="   ")
case("name-empty", "product.filed", "name", name="")
case("address-ideographic-space", "enterprise.filed", "address", address="\u3000\u3000")
case("reason-blank", "enterprise.revoked", "reason", reason=" \n\t ")
case("reason-blank-blacklist-removed", "blacklist.removed", "reason", reason="   ")
case("reason-blank-redacted", "entry.redacted", "reason", reason="  ")
case("summary-blank", "complaint.received", "summary", summary="   ")
case("case_no-blank", "violation.recorded", "case_no", case_no=" ")
case("grounds-blank", "credit.repair_requested", "grounds", grounds="\n")
case("note-blank", "credit.repair_decided", "note", note="   ")
case("basis-blank", "blacklist.noticed", "basis", basis="   ")
case("uscc-blank", "enterprise.revoked", "uscc", uscc="   ")
case("gtin-empty", "product.revoked", "gtin", gtin="")
case("pick-empty", "draw.made", "picks[2]", picks=[U1, U2, ""])
# control characters
case("name-nul", "enterprise.filed", "name", name="ACME\x00 Ltd")
case("name-escape", "product.filed", "name", name="coffee\x1b[31m")
case("reason-bell", "enterprise.revoked", "reason", reason="a\x07b")
case("address-cr", "enterprise.filed", "address", address="line 1\rline 2")
case("summary-backspace", "complaint.received", "summary", summary="ab\x08c")
case("note-formfeed", "violation.recorded", "note", note="a\x0cb")
case("case_no-vt", "violation.recorded", "case_no", case_no="12\x0b3")
# bad dates
case("filed_on-feb30", "enterprise.filed", "filed_on", filed_on="2024-02-30")
case("filed_on-slashes", "enterprise.filed", "filed_on", filed_on="2024/01/01")
case("produced_on-slashes", "batch.declared", "produced_on", produced_on="2024/01/01")
case("inspected_on-month13", "inspection.result", "inspected_on", inspected_on="2025-13-01")
case("occurred_on-compact", "violation.recorded", "occurred_on", occurred_on="20250201")
case("issued_on-unpadded", "recall.issued", "issued_on", issued_on="2025-7-1")
case("on-datetime", "sanction.interview", "on", on="2025-08-01T00:00:00Z")
case("expires_on-feb29-2026", "batch.declared", "expires_on", expires_on="2026-02-29")
case("filed_on-empty", "enterprise.filed", "filed_on", filed_on="")
case("filed_on-1899", "enterprise.filed", "filed_on", filed_on="1899-12-31")
# dates in the future (today = 2026-11-22)
case("filed_on-future", "enterprise.filed", "filed_on", TODAY, filed_on=TOMORROW)
case(
    "produced_on-future",
    "batch.declared",
    "produced_on",
    TODAY,
    produced_on=TOMORROW,
    expires_on="2028-01-01",
)
case("inspected_on-future", "inspection.result", "inspected_on", TODAY, inspected_on="2027-01-01")
case("occurred_on-future", "violation.recorded", "occurred_on", TODAY, occurred_on="2026-12-01")
case("issued_on-future", "recall.issued", "issued_on", TODAY, issued_on=TOMORROW)
case("on-future-yellow", "sanction.yellow_card", "on", TODAY, on=TOMORROW)
case("on-future-interview", "sanction.interview", "on", TODAY, on="2030-01-01")
# expiry before production
case("expires_before_produced", "batch.declared", "expires_on", expires_on="2025-05-31")
# batches
case("batch-slash", "batch.declared", "batch", batch="L1/2")
case("batch-21", "batch.declared", "batch", batch="A" * 21)
case("batch-space", "inspection.result", "batch", batch="L 1")
case("batch-empty", "codes.issued", "batch", batch="")
case("batch-slash-codes", "codes.revoked", "batch", batch="../L1")
case("batch-cjk", "batch.declared", "batch", batch="批次1")
case("batches-slash", "recall.issued", "batches[0]", batches=["L1/2"])
case("batches-21", "recall.issued", "batches[1]", batches=["L1", "B" * 21])
# negative and zero numbers
case("quantity-negative", "batch.declared", "quantity", quantity=-1)
case("quantity-zero", "batch.declared", "quantity", quantity=0)
case("fine_fen-negative", "violation.recorded", "fine_fen", fine_fen=-1)
case("entry-negative", "violation.revoked", "entry", entry=-1)
case("request-negative", "credit.repair_decided", "request", request=-3)
case("as_of_size-negative", "credit.graded", "as_of_size", as_of_size=-1)
case("index-negative", "entry.redacted", "index", index=-1)
case("count-zero", "codes.issued", "count", count=0)
case("seed_size-zero", "draw.made", "seed_size", seed_size=0)
case("entry-too-big", "complaint.verified", "entry", entry=2**53)
# cross-field rules
case("draw-fewer-picks", "draw.made", "picks", picks=[U1, U2])
case("draw-more-picks", "draw.made", "picks", picks=[U1, U2, U3, U4])
case("draw-no-picks", "draw.made", "picks", picks=[])
case("draw-count-over-population", "draw.made", "count", population=2)
case("request-no-id", "draw.requested", "draw_id", draw_id="Q 1")
case("request-count-zero", "draw.requested", "count", count=0)
case("request-bad-policy", "draw.requested", "policy", policy="CN CIQ")
case("request-roster-twice", "draw.requested", "roster", roster=["li", "li"], inspectors=1)


@pytest.mark.parametrize(("kind", "changes", "field", "today"), C)
def test_refused(kind: str, changes: dict[str, Any], field: str, today: dt.date | None) -> None:
    payload = valid(kind, **changes)
    err = refused(kind, payload, today)
    assert err.field == field
    assert str(err).startswith(f"{field}: ")
    assert err.reason
    # The same refusal from JSON bytes, where the value can be written in JSON at all.
    try:
        raw = json.dumps(payload, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return
    assert refused(kind, raw, today).field == field


def test_refusal_table_covers_every_kind() -> None:
    covered = {p.values[0] for p in C}
    assert covered == set(RECORD_TYPES)
    assert len(C) > 150


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("enterprise.filed", "uscc"),
        ("product.filed", "owner_uscc"),
        ("batch.declared", "declarant_uscc"),
        ("inspection.result", "body_uscc"),
    ],
)
def test_uscc_error_message_names_the_check_character(kind: str, field: str) -> None:
    err = refused(kind, valid(kind, **{field: "9144030034527391XP"}))
    assert err.field == field
    assert "check character" in str(err)


def test_gtin_error_message_names_the_check_digit() -> None:
    err = refused("product.filed", valid("product.filed", gtin="6901234567893"))
    assert "check digit" in str(err)


def test_amendment_must_change_something() -> None:
    err = refused("enterprise.amended", {"uscc": U1})
    assert err.field == "name"
    assert "name" in err.reason
    assert "address" in err.reason
    err = refused("enterprise.amended", {"uscc": U1, "name": None, "roles": None})
    assert err.field == "name"
    for field in ("name", "roles", "address", "country"):
        only = {"uscc": U1, field: VALID["enterprise.amended"][field]}
        assert set(json.loads(parse("enterprise.amended", only).payload)) == {"uscc", field}


# --- dates that are fine --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("enterprise.filed", "filed_on"),
        ("batch.declared", "produced_on"),
        ("inspection.result", "inspected_on"),
        ("violation.recorded", "occurred_on"),
        ("recall.issued", "issued_on"),
        ("sanction.yellow_card", "on"),
        ("sanction.interview", "on"),
    ],
)
def test_past_date_may_be_today(kind: str, field: str) -> None:
    changes: dict[str, Any] = {field: TODAY.isoformat()}
    if kind == "batch.declared":
        changes["expires_on"] = "2027-11-22"
    parsed = parse(kind, valid(kind, **changes), today=TODAY)
    assert getattr(parsed.record, field) == TODAY
    assert f'"{field}":"2026-11-22"'.encode() in parsed.payload


def test_expires_on_in_the_future_is_fine() -> None:
    parsed = parse("batch.declared", valid("batch.declared", expires_on="2029-12-31"), today=TODAY)
    assert b'"expires_on":"2029-12-31"' in parsed.payload


def test_expires_on_may_equal_produced_on() -> None:
    parse("batch.declared", valid("batch.declared", expires_on="2025-06-01"), today=TODAY)


def test_leap_day_is_a_date() -> None:
    parsed = parse("enterprise.filed", valid("enterprise.filed", filed_on="2024-02-29"))
    assert parsed.record.filed_on == dt.date(2024, 2, 29)


def test_date_objects_in_a_dict_payload() -> None:
    parsed = parse("sanction.yellow_card", valid("sanction.yellow_card", on=dt.date(2025, 8, 1)))
    assert parsed.payload == parse("sanction.yellow_card", valid("sanction.yellow_card")).payload


# --- normalisation ----------------------------------------------------------------------------


def test_text_is_nfc_and_stripped() -> None:
    decomposed = "  Cafe\u0301 Ltd\u3000\n"
    parsed = parse(
        "enterprise.filed", valid("enterprise.filed", name=decomposed, address="\tA\u0308 1 ")
    )
    assert parsed.record.name == "Café Ltd"
    assert parsed.record.address == "Ä 1"
    assert unicodedata.is_normalized("NFC", parsed.record.name)
    assert "Café Ltd".encode() in parsed.payload
    assert b"e\xcc\x81" not in parsed.payload
    assert (
        parse(
            "enterprise.filed", json.dumps(valid("enterprise.filed", name=decomposed)).encode()
        ).record.name
        == "Café Ltd"
    )


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("enterprise.revoked", "reason"),
        ("product.filed", "name"),
        ("violation.recorded", "note"),
        ("violation.recorded", "case_no"),
        ("complaint.received", "summary"),
        ("credit.repair_requested", "grounds"),
        ("blacklist.noticed", "basis"),
        ("entry.redacted", "reason"),
    ],
)
def test_text_fields_are_nfc(kind: str, field: str) -> None:
    parsed = parse(kind, valid(kind, **{field: " e\u0301te\u0301 "}))
    assert getattr(parsed.record, field) == "été"


def test_inspection_items_are_nfc() -> None:
    parsed = parse("inspection.result", valid("inspection.result", items=["e\u0301", " x "]))
    assert parsed.record.items == ["é", "x"]


def test_newline_and_tab_are_allowed_inside_long_text() -> None:
    parsed = parse("enterprise.revoked", valid("enterprise.revoked", reason="line 1\nline\t2"))
    assert parsed.record.reason == "line 1\nline\t2"
    assert parsed.payload == rfc8785.dumps(json.loads(parsed.payload))


def test_roles_are_deduplicated_and_sorted() -> None:
    roles = ["producer", "importer", "producer", "exporter", "importer"]
    parsed = parse("enterprise.filed", valid("enterprise.filed", roles=roles))
    assert parsed.record.roles == ["exporter", "importer", "producer"]
    assert b'"roles":["exporter","importer","producer"]' in parsed.payload
    amended = parse(
        "enterprise.amended",
        valid("enterprise.amended", roles=["inspection_body", "customs_broker", "inspection_body"]),
    )
    assert amended.record.roles == ["customs_broker", "inspection_body"]


def test_all_roles_accepted() -> None:
    roles = [
        "producer",
        "importer",
        "exporter",
        "cbec_platform",
        "customs_broker",
        "inspection_body",
    ]
    parsed = parse("enterprise.filed", valid("enterprise.filed", roles=roles))
    assert parsed.record.roles == sorted(roles)


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("enterprise.filed", "uscc"),
        ("violation.recorded", "uscc"),
        ("product.filed", "owner_uscc"),
        ("batch.declared", "declarant_uscc"),
        ("inspection.result", "body_uscc"),
    ],
)
def test_lower_case_uscc_is_stored_upper_case(kind: str, field: str) -> None:
    parsed = parse(kind, valid(kind, **{field: " 9144030034527391xn "}))
    assert getattr(parsed.record, field) == U1
    assert U1.encode() in parsed.payload
    assert b"9144030034527391xn" not in parsed.payload
    if field == "uscc":
        assert parsed.subject == f"uscc:{U1}"


@pytest.mark.parametrize("code", [U3, U4, "Y1440300MA5F0000XB"])
def test_uscc_with_authority_a_n_y_accepted(code: str) -> None:
    parsed = parse("enterprise.filed", valid("enterprise.filed", uscc=code))
    assert parsed.subject == f"uscc:{code}"


@pytest.mark.parametrize(
    ("gtin", "stored"),
    [
        ("6901234567892", "06901234567892"),
        ("9506000134352", "09506000134352"),
        ("09506000134352", "09506000134352"),
        ("036000291452", "00036000291452"),
        ("96385074", "00000096385074"),
    ],
)
def test_gtin_is_stored_as_14_digits(gtin: str, stored: str) -> None:
    parsed = parse("product.filed", valid("product.filed", gtin=gtin))
    assert parsed.record.gtin == stored
    assert parsed.subject == f"gtin:{stored}"
    assert f'"gtin":"{stored}"'.encode() in parsed.payload
    batch = parse("batch.declared", valid("batch.declared", gtin=gtin))
    assert batch.subject == f"batch:{stored}/{BATCH}"
    complaint = parse("complaint.received", valid("complaint.received", gtin=gtin))
    assert complaint.record.gtin == stored


def test_gtin13_and_gtin14_give_the_same_record() -> None:
    a = parse("product.filed", valid("product.filed", gtin="9506000134352"))
    b = parse("product.filed", valid("product.filed", gtin="09506000134352"))
    assert a.payload == b.payload
    assert a.subject == b.subject


def test_hs_code_and_countries_normalised() -> None:
    parsed = parse(
        "product.filed", valid("product.filed", hs_code="2204.21.0000", origin_country="fr")
    )
    assert parsed.record.hs_code == "2204210000"
    assert parsed.record.origin_country == "FR"
    filed = parse("enterprise.filed", valid("enterprise.filed", country="cn"))
    assert filed.record.country == "CN"


def test_recall_batches_sorted_and_deduplicated() -> None:
    parsed = parse("recall.issued", valid("recall.issued", batches=["L3", "L1", "L3", "L2", "L1"]))
    assert parsed.record.batches == ["L1", "L2", "L3"]
    assert b'"batches":["L1","L2","L3"]' in parsed.payload


def test_recall_of_all_batches_is_an_empty_list() -> None:
    parsed = parse("recall.issued", valid("recall.issued", batches=[]))
    assert parsed.record.batches == []
    assert b'"batches":[]' in parsed.payload


def test_revoked_serials_sorted_and_deduplicated() -> None:
    parsed = parse("codes.revoked", valid("codes.revoked", serials=[SERIAL_B, SERIAL_A, SERIAL_B]))
    assert parsed.record.serials == [SERIAL_A, SERIAL_B]
    all_codes = parse("codes.revoked", valid("codes.revoked", serials=[]))
    assert all_codes.record.serials == []


def test_canonical_payload_sorts_keys_and_has_no_whitespace() -> None:
    parsed = parse("enterprise.filed", valid("enterprise.filed"))
    keys = list(json.loads(parsed.payload))
    assert keys == sorted(keys)
    assert b"\n" not in parsed.payload
    assert b": " not in parsed.payload
    assert "深圳".encode() in parsed.payload  # UTF-8, not \\u escapes


# Text the schemas accept: no format characters (bidirectional controls, invisible ones)
# or line separators, no characters that show blank (tests/unit/test_text_rules.py).
BLANK = "\u034f\u115f\u1160\u180b\u180c\u180d\u2800\u3164\ufe00\ufe0f\uffa0"
printable = st.characters(
    exclude_categories=("Cs", "Cc", "Cf", "Zl", "Zp"),
    exclude_characters=BLANK
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0))),  # variation selectors supplement
) | st.sampled_from('\n\t"\\/')


@settings(max_examples=200, deadline=None)
@given(st.text(printable, min_size=1, max_size=60).filter(lambda s: s.strip()))
def test_canonical_payload_of_arbitrary_text(text: str) -> None:
    parsed = parse("enterprise.revoked", valid("enterprise.revoked", reason=text))
    stored = parsed.record.reason
    assert stored == unicodedata.normalize("NFC", text).strip()
    assert unicodedata.is_normalized("NFC", stored)
    assert parsed.payload == rfc8785.dumps(json.loads(parsed.payload))
    assert parse("enterprise.revoked", parsed.payload).payload == parsed.payload
    assert (
        parse("enterprise.revoked", json.dumps({"uscc": U1, "reason": text}).encode()).payload
        == parsed.payload
    )


# --- known bugs (asserting the correct behaviour) -----------------------------------------------


@pytest.mark.parametrize("payload", [b"[]", b"null", b'"text"', b"42", [], None])
def test_payload_that_is_not_an_object_names_payload(payload: Any) -> None:
    err = refused("enterprise.revoked", payload)
    assert err.field == "payload"


def test_payload_that_is_not_utf8_names_payload() -> None:
    err = refused("enterprise.revoked", b'{"uscc":"9144030034527391XN","reason":"\xff"}')
    assert err.field == "payload"


@pytest.mark.parametrize("as_str", [False, True], ids=["dict", "str"])
def test_lone_surrogate_is_refused_naming_the_field(as_str: bool) -> None:
    payload: Any = {"uscc": U1, "reason": "ok \ud800"}
    if as_str:
        payload = '{"uscc":"' + U1 + '","reason":"ok \ud800"}'
    err = refused("enterprise.revoked", payload)
    assert err.field in ({"reason", "payload"} if as_str else {"reason"})


@pytest.mark.parametrize("item", ["   ", "a\x00b", "\x1b[2J"], ids=["blank", "nul", "escape"])
def test_inspection_items_blank_or_control_refused(item: str) -> None:
    err = refused("inspection.result", valid("inspection.result", items=["ok", item]))
    assert err.field == "items[1]"


_BATCH_RE = re.compile(r"[0-9A-Za-z._-]{1,20}")
_SERIAL_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{12,26}")


def _stored_or_refused(kind: str, field: str, values: list[str], pattern: re.Pattern[str]) -> None:
    try:
        parsed = parse(kind, valid(kind, **{field: values}))
    except RecordError as err:
        assert err.field is not None
        assert err.field.startswith(field)
        return
    stored = getattr(parsed.record, field)
    assert all(pattern.fullmatch(v) for v in stored), stored


def test_recall_batch_with_trailing_newline_is_not_stored() -> None:
    _stored_or_refused("recall.issued", "batches", ["L1", "L1\n"], _BATCH_RE)


def test_revoked_serial_with_trailing_newline_is_not_stored() -> None:
    _stored_or_refused("codes.revoked", "serials", [SERIAL_A + "\n"], _SERIAL_RE)


@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9b"], ids=["DEL", "NEL", "CSI"])
def test_del_and_c1_control_characters_refused(char: str) -> None:
    err = refused("enterprise.revoked", valid("enterprise.revoked", reason=f"a{char}b"))
    assert err.field == "reason"
