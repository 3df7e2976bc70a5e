"""Payload disclosure on the ledger routes: every caller gets every envelope, leaf hash and
proof, but a payload and its salt only where the policy discloses it today, or where the
caller is an officer, an auditor or the enterprise itself; a withheld payload says so."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from credit.catalogue import load_policy
from credit.disclosure import (
    ALWAYS_PUBLIC,
    NEVER_PUBLIC,
    NOTICE_NOT_PUBLIC,
    DisclosureFacts,
    ViolationFact,
    public_blacklist,
    withheld_reason,
)
from ledger.records.kinds import KINDS
from ledger.store.config import LedgerConfig
from ledger.tlog.jcs import canonicalize
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.ratelimit import RateLimits
from lookup_api.routes.ledger.disclosure import today_in_china
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.codes_env import add
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc

OWNER, OTHER = uscc(4), uscc(5)
CIQ = load_policy("cn-ciq-2014")


def _ago(days: int) -> str:
    return (today_in_china() - dt.timedelta(days=days)).isoformat()


def violation(item: str, days_ago: int, case: str) -> dict[str, Any]:
    return {"uscc": OWNER, "item": item, "occurred_on": _ago(days_ago), "case_no": case}


@dataclass
class Log:
    client: TestClient[Litestar]
    services: Services
    tokens: dict[str, str]
    index: dict[str, int]

    def get(self, path: str, caller: str) -> Any:
        token = self.tokens.get(caller)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def log(db_url: str, tmp_path: Path) -> Iterator[Log]:
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        rate_limits=RateLimits(enabled=False),
    )
    services = Services.open(settings)
    try:
        ledger = services.ledger
        index = {
            "owner": add(ledger, "enterprise.filed", enterprise_payload(4)),
            "other": add(ledger, "enterprise.filed", enterprise_payload(5)),
            "minor": add(ledger, "violation.recorded", violation("ciq.declaration-error", 3, "M")),
            "general": add(
                ledger, "violation.recorded", violation("ciq.evade-inspection", 10, "G")
            ),
            "general_old": add(
                ledger, "violation.recorded", violation("ciq.evade-inspection", 400, "GO")
            ),
            "serious": add(ledger, "violation.recorded", violation("ciq.adulteration", 700, "S")),
            "revoked": add(ledger, "violation.recorded", violation("ciq.adulteration", 5, "R")),
            "complaint": add(
                ledger,
                "complaint.received",
                {"uscc": OWNER, "channel": "12365", "summary": "a consumer's own words"},
            ),
        }
        index["revocation"] = add(
            ledger,
            "violation.revoked",
            {"uscc": OWNER, "entry": index["revoked"], "reason": "overturned on appeal"},
        )
        engine = services.engine
        tokens = {r: create_key(engine, r)[1] for r in ("officer", "auditor", "platform")}
        tokens["owner"] = create_key(engine, "enterprise", OWNER)[1]
        tokens["other"] = create_key(engine, "enterprise", OTHER)[1]
        with TestClient(create_app(settings, services)) as client:
            yield Log(client, services, tokens, index)
    finally:
        services.close()


# Which entries each caller sees the payload of; the rest are withheld.
PUBLIC_NAMES = {"owner", "other", "general", "serious", "revocation"}
EVERY_NAME = PUBLIC_NAMES | {"minor", "general_old", "revoked", "complaint"}
SEES = {
    "anonymous": PUBLIC_NAMES,
    "platform": PUBLIC_NAMES,
    "other": PUBLIC_NAMES | {"other"},
    "owner": EVERY_NAME,  # all of these are about the owner
    "officer": EVERY_NAME,
    "auditor": EVERY_NAME,
}


def _check(view: dict[str, Any], visible: bool) -> None:
    leaf_input = base64.b64decode(view["leaf_input"])
    assert base64.b64decode(view["leaf_hash"]) == hashlib.sha256(b"\0" + leaf_input).digest()
    assert view["envelope"]["index"] == view["index"]
    assert view["redacted"] is False
    if visible:
        assert view["withheld"] is False and view["withheld_reason"] is None
        salt = base64.b64decode(view["salt"])
        commitment = hashlib.sha256(salt + canonicalize(view["payload"])).digest()
        assert base64.b64encode(commitment).decode() == view["envelope"]["payload_hash"]
    else:
        assert view["withheld"] is True and view["withheld_reason"]
        assert view["payload"] is None and view["salt"] is None


def test_each_caller_sees_exactly_the_payloads_it_may(log: Log) -> None:
    names = {i: name for name, i in log.index.items()}
    end = max(names) + 1
    for caller, visible in SEES.items():
        page = log.get(f"/v1/ledger/entries?start=0&end={end}", caller)
        shown = {v["index"]: v for v in page.json()["entries"]}
        for index, name in names.items():
            _check(shown[index], name in visible)
            one = log.get(f"/v1/ledger/entries/{index}", caller).json()
            assert one == shown[index], (caller, name)
        # credit.graded entries between them are public to everyone
        graded = [v for v in shown.values() if v["envelope"]["kind"] == "credit.graded"]
        assert graded and all(v["withheld"] is False for v in graded)
        cache = page.headers["cache-control"]
        assert cache.startswith("public" if caller == "anonymous" else "private"), caller
        assert page.headers["vary"] == "Authorization"


def test_a_withheld_payload_says_why(log: Log) -> None:
    def reason(name: str) -> str:
        body = log.get(f"/v1/ledger/entries/{log.index[name]}", "anonymous").json()
        text: str = body["withheld_reason"]
        return text

    assert "minor violation" in reason("minor") and "never" in reason("minor")
    assert "365 days" in reason("general_old")
    assert "revoked" in reason("revoked")
    assert "complaints" in reason("complaint")


def test_tiles_and_entry_bundles_hold_envelopes_only(log: Log) -> None:
    size = log.services.ledger.size()
    bundle = log.get(f"/tile/entries/000.p/{size}", "anonymous").content
    assert b"a consumer's own words" not in bundle and b'"case_no"' not in bundle
    assert b'"payload_hash"' in bundle


def test_bad_keys_on_the_disclosing_routes_are_refused_not_downgraded(log: Log) -> None:
    for token in ("ct_nope", "ct_abc_def", log.tokens["auditor"] + "x"):
        response = log.client.get(
            f"/v1/ledger/entries/{log.index['minor']}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


# --- the rules themselves, one kind at a time -----------------------------------------

TODAY = dt.date(2026, 6, 1)


def _reason(kind: str, payload: dict[str, Any], facts: DisclosureFacts | None = None) -> Any:
    return withheld_reason(kind, 10, payload, facts or DisclosureFacts(), today=TODAY, policy=CIQ)


def test_every_kind_has_a_rule() -> None:
    ruled = ALWAYS_PUBLIC | NEVER_PUBLIC.keys()
    ruled |= {"violation.recorded", "violation.revoked", "blacklist.listed"}
    assert set(KINDS) == ruled
    assert "is not among the kinds" in _reason("something.new", {})


def test_violation_windows_from_occurrence() -> None:
    def shown(item: str, occurred: dt.date) -> bool:
        return _reason("violation.recorded", {"item": item, "occurred_on": str(occurred)}) is None

    day = dt.timedelta(days=1)
    assert not shown("ciq.declaration-error", TODAY)
    assert shown("ciq.evade-inspection", TODAY - 364 * day)
    assert not shown("ciq.evade-inspection", TODAY - 365 * day)
    assert shown("ciq.adulteration", TODAY - 1094 * day)
    assert not shown("ciq.adulteration", TODAY - 1095 * day)
    assert not shown("no.such-item", TODAY)


def test_a_revoked_violation_and_its_revocation() -> None:
    facts = DisclosureFacts(
        violations={
            10: ViolationFact("ciq.adulteration", TODAY, revoked=True),
            3: ViolationFact("ciq.declaration-error", TODAY, revoked=True),
            4: ViolationFact("ciq.adulteration", TODAY, revoked=True),
        }
    )
    assert "revoked" in _reason("violation.recorded", {}, facts)
    assert _reason("violation.revoked", {"entry": 4}, facts) is None
    assert "minor" in _reason("violation.revoked", {"entry": 3}, facts)
    assert "unknown" in _reason("violation.revoked", {"entry": 99}, facts)


def test_a_listing_is_public_until_removed_and_a_notice_never() -> None:
    payload = {"uscc": OWNER, "reason": "forged certificates"}
    assert _reason("blacklist.listed", payload) is None
    removed = DisclosureFacts(last_removal={OWNER: 20})
    assert "ended by entry 20" in _reason("blacklist.listed", payload, removed)
    relisted = DisclosureFacts(last_removal={OWNER: 5})  # removed before this listing
    assert _reason("blacklist.listed", payload, relisted) is None
    assert _reason("blacklist.removed", payload, removed) is None
    # The notice opens due process (20 days' notice, 10 of defence) and may end without a
    # listing: it is not published, before or after a listing or a removal.
    for facts in (None, removed, relisted):
        assert _reason("blacklist.noticed", payload, facts) == NOTICE_NOT_PUBLIC
    assert [public_blacklist(s) for s in ("none", "noticed", "listed")] == [
        "none",
        "none",
        "listed",
    ]
