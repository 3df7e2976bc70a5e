"""Public state routes: enterprise profiles, products and batches, over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from credit.catalogue import load_policy
from credit.disclosure import is_disclosed
from ledger.records.entry import record_entry
from ledger.store.config import LedgerConfig
from ledger.tlog.envelope import format_time
from lookup_api.problems import problem_handler
from lookup_api.routes.ledger.controller import LedgerController
from lookup_api.routes.state.controller import (
    StateController,
    public_violations,
    today_in_china,
)
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload, uscc, without_regrading

GTIN13 = "6901234567892"  # stored as 06901234567892
GTIN = "0" + GTIN13
GTIN2_8 = "96385074"  # a GTIN-8, stored as 00000096385074
GTIN2 = "000000" + GTIN2_8
OWNER = uscc(4)  # 91440300000000043U: has a letter, so lower case is a real test
BROKER = uscc(1)
REVOKED = uscc(2)
PLAIN = uscc(3)
DIGEST = "A" * 43 + "="
TODAY = today_in_china()  # record dates are checked against the day in China


def _ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


@dataclass
class Seeded:
    services: Services
    index: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, kind: str, payload: dict[str, Any], time: str | None = None) -> int:
        result = self.services.ledger.append([record_entry(kind, payload, "officer:test", time)])
        assert not result.rejected, result.rejected
        index = result.first_index
        self.index[name] = index
        return index


def _seed(services: Services) -> Seeded:
    s = Seeded(services)
    # The notice is 40 days old; entry times never decrease, so the filings come before it.
    now = dt.datetime.now(dt.UTC)
    for name, n in (("owner", 4), ("broker", 1), ("revoked", 2), ("plain", 3)):
        s.add(
            name,
            "enterprise.filed",
            enterprise_payload(n, roles=["importer", "producer"] if n == 4 else ["customs_broker"]),
            time=format_time(now - dt.timedelta(days=41)),
        )
    s.add(
        "noticed",
        "blacklist.noticed",
        {"uscc": OWNER, "reason": "adulteration"},
        time=format_time(now - dt.timedelta(days=40)),
    )
    s.add("revoke", "enterprise.revoked", {"uscc": REVOKED, "reason": "licence withdrawn"})
    for key, gtin, name in (("p1", GTIN13, "婴幼儿配方奶粉"), ("p2", GTIN2_8, "橄榄油")):
        s.add(
            key,
            "product.filed",
            {
                "gtin": gtin,
                "name": name,
                "hs_code": "1901.10",
                "origin_country": "nz",
                "owner_uscc": OWNER.lower(),
                "risk_class": "high",
            },
        )
    for key, gtin, batch in (("b1", GTIN, "B1"), ("b2", GTIN, "B2"), ("l1", GTIN2, "L-1")):
        s.add(
            key,
            "batch.declared",
            {
                "gtin": gtin,
                "batch": batch,
                "quantity": 1200,
                "produced_on": _ago(60),
                "expires_on": (TODAY + dt.timedelta(days=300)).isoformat(),
                "port": "CNSZX",
                "declaration_no": f"D-{batch}",
                "declarant_uscc": BROKER,
            },
        )
    # Recorded out of date order: the later inspection first, a backfilled older one after.
    for key, outcome, days in (("insp_new", "non_conformant", 10), ("insp_old", "conformant", 30)):
        s.add(
            key,
            "inspection.result",
            {
                "gtin": GTIN,
                "batch": "B1",
                "outcome": outcome,
                "inspected_on": _ago(days),
                "accepted_third_party": False,
            },
        )
    s.add(
        "codes",
        "codes.issued",
        {
            "gtin": GTIN,
            "batch": "B1",
            "count": 500,
            "serials_root": DIGEST,
            "key_id": "0123abcd",
        },
    )
    violations = (
        ("v_minor", "ciq.declaration-error", 5),
        ("v_serious", "ciq.adulteration", 20),
        ("v_serious_old", "ciq.adulteration", 4 * 365),
        ("v_general", "ciq.evade-inspection", 100),
        ("v_general_old", "ciq.evade-inspection", 400),
        ("v_revoked", "ciq.forged-documents", 15),
    )
    for key, item, days in violations:
        s.add(
            key,
            "violation.recorded",
            {"uscc": OWNER, "item": item, "occurred_on": _ago(days), "case_no": f"CASE-{key}"},
        )
    s.add(
        "v_revoke",
        "violation.revoked",
        {"uscc": OWNER, "entry": s.index["v_revoked"], "reason": "overturned on appeal"},
    )
    s.add("yellow", "sanction.yellow_card", {"uscc": OWNER, "reason": "late recall", "on": _ago(9)})
    s.add("interview", "sanction.interview", {"uscc": OWNER, "reason": "warning", "on": _ago(3)})
    s.add(
        "r_b1",
        "recall.issued",
        {"gtin": GTIN, "batches": ["B1"], "reason": "melamine", "issued_on": _ago(2)},
    )
    s.add(
        "r_all_closed",
        "recall.issued",
        {"gtin": GTIN, "batches": [], "reason": "label", "issued_on": _ago(50)},
    )
    s.add("r_close", "recall.closed", {"gtin": GTIN, "entry": s.index["r_all_closed"]})
    s.add(
        "r_p2",
        "recall.issued",
        {"gtin": GTIN2, "batches": [], "reason": "rancid", "issued_on": _ago(1)},
    )
    s.add(
        "grade",
        "credit.graded",
        {
            "uscc": OWNER,
            "grade": "C",
            "score": 58,
            "policy": "cn-ciq-2014",
            "as_of_size": 10,
            "reasons_digest": DIGEST,
        },
    )
    s.add("listed", "blacklist.listed", {"uscc": OWNER, "reason": "adulteration"})
    s.add("plain_noticed", "blacklist.noticed", {"uscc": PLAIN, "reason": "obstruction"})
    return s


@dataclass
class Env:
    client: TestClient[Litestar]
    seeded: Seeded

    def entry(self, name: str) -> int:
        return self.seeded.index[name]


@pytest.fixture(scope="module")
def env(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One seeded log for the module: every test here only reads."""
    folder = tmp_path_factory.mktemp("state-routes")
    settings = Settings(
        ledger=LedgerConfig(module_db_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
    )
    services = Services.open(settings)
    # The views show the grades recorded here by hand; the regrading is tested elsewhere.
    without_regrading(services.ledger)
    try:
        seeded = _seed(services)
        app = Litestar(
            route_handlers=[StateController, LedgerController],
            dependencies={"services": Provide(lambda: services, sync_to_thread=False)},
            exception_handlers={Exception: problem_handler},
        )
        with TestClient(app) as client:
            yield Env(client, seeded)
    finally:
        services.close()


def _ok(env: Env, url: str) -> dict[str, Any]:
    response = env.client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=30"
    body: dict[str, Any] = response.json()
    return body


def _subjects(env: Env, body: dict[str, Any]) -> set[str]:
    """Each listed entry exists, is included in the tree the view was read at, and its subject."""
    subjects = set()
    for index in body["entries"]:
        entry = env.client.get(f"/v1/ledger/entries/{index}").json()
        subjects.add(entry["envelope"]["subject"])
        proof = env.client.get(
            "/v1/ledger/proof/inclusion", params={"index": index, "tree_size": body["tree_size"]}
        )
        assert proof.status_code == 200, proof.text
    return subjects


def test_enterprise_profile(env: Env) -> None:
    body = _ok(env, f"/v1/enterprises/{OWNER.lower()}")
    e = env.entry
    assert body["uscc"] == OWNER
    assert body["name"] == "测试进出口贸易有限公司4"
    assert body["roles"] == ["importer", "producer"]
    assert body["country"] == "CN" and body["filed_on"] == "2024-01-01"
    assert body["address"] == "深圳市前海"
    assert body["status"] == "active" and body["revoked_entry"] is None
    assert body["filed_entry"] == e("owner")
    assert body["blacklist"] == "listed" and body["blacklist_entry"] == e("listed")
    assert body["grade"] == "C" and body["graded_entry"] == e("grade")
    assert body["score"] is None  # it counts minor items, which are never public
    assert body["measures"]["inspection_percent"] == "50"  # the grade's supervision
    assert body["measures"]["targeted_control"] is True
    assert body["products"] == 2
    assert body["sanctions"] == [
        {"kind": "sanction.interview", "on": _ago(3), "entry": e("interview")},
        {"kind": "sanction.yellow_card", "on": _ago(9), "entry": e("yellow")},
    ]
    # Minor never; serious within 3 years; general within 1 year; revoked never.
    assert body["violations"] == [
        {
            "item": "ciq.adulteration",
            "severity": "serious",
            "occurred_on": _ago(20),
            "case_no": "CASE-v_serious",
            "entry": e("v_serious"),
        },
        {
            "item": "ciq.evade-inspection",
            "severity": "general",
            "occurred_on": _ago(100),
            "case_no": "CASE-v_general",
            "entry": e("v_general"),
        },
    ]
    hidden = {e(k) for k in ("v_minor", "v_serious_old", "v_general_old", "v_revoked")}
    assert not hidden & set(body["entries"])
    assert "ciq.declaration-error" not in str(body)
    assert body["recalls"] == [
        {
            "gtin": GTIN2,
            "product": "橄榄油",
            "batches": [],
            "reason": "rancid",
            "issued_on": _ago(1),
            "entry": e("r_p2"),
        },
        {
            "gtin": GTIN,
            "product": "婴幼儿配方奶粉",
            "batches": ["B1"],
            "reason": "melamine",
            "issued_on": _ago(2),
            "entry": e("r_b1"),
        },
    ]
    expected = {
        e(k)
        for k in (
            "owner",
            "listed",
            "grade",
            "interview",
            "yellow",
            "v_serious",
            "v_general",
            "r_p2",
            "r_b1",
        )
    }
    assert expected <= set(body["entries"]) and body["entries"] == sorted(body["entries"])
    assert body["tree_size"] == env.seeded.services.ledger.size()
    assert _subjects(env, body) == {f"uscc:{OWNER}", f"gtin:{GTIN}", f"gtin:{GTIN2}"}


def test_enterprise_states(env: Env) -> None:
    revoked = _ok(env, f"/v1/enterprises/{REVOKED}")
    assert revoked["status"] == "revoked" and revoked["revoked_entry"] == env.entry("revoke")
    assert revoked["grade"] is None and revoked["score"] is None and revoked["measures"] is None
    assert revoked["blacklist"] == "none" and revoked["blacklist_entry"] is None
    assert revoked["products"] == 0 and revoked["violations"] == revoked["recalls"] == []
    plain = _ok(env, f"/v1/enterprises/{PLAIN}")
    # Noticed, not listed: the public is not shown a notice (credit.disclosure).
    assert plain["blacklist"] == "none" and plain["blacklist_entry"] is None
    assert env.entry("plain_noticed") not in plain["entries"]
    assert plain["roles"] == ["customs_broker"]
    paths = env.client.get("/schema/openapi.json").json()["paths"]
    for path in ("/v1/enterprises/{uscc}", "/v1/products/{gtin}", "/v1/batches/{gtin}/{batch}"):
        assert path in paths


def test_product(env: Env) -> None:
    e = env.entry
    body = _ok(env, f"/v1/products/{GTIN13}")
    assert body == _ok(env, f"/v1/products/{GTIN}")
    assert body["gtin"] == GTIN and body["name"] == "婴幼儿配方奶粉"
    assert body["hs_code"] == "190110" and body["origin_country"] == "NZ"
    assert body["owner_uscc"] == OWNER and body["owner_name"] == "测试进出口贸易有限公司4"
    assert body["risk_class"] == "high" and body["status"] == "active"
    assert body["filed_entry"] == e("p1") and body["revoked_entry"] is None
    assert body["batches"] == 2
    assert body["recalls"] == [
        {
            "gtin": GTIN,
            "batches": [],
            "reason": "label",
            "issued_on": _ago(50),
            "open": False,
            "entry": e("r_all_closed"),
            "closed_entry": e("r_close"),
        },
        {
            "gtin": GTIN,
            "batches": ["B1"],
            "reason": "melamine",
            "issued_on": _ago(2),
            "open": True,
            "entry": e("r_b1"),
            "closed_entry": None,
        },
    ]
    assert {e("p1"), e("r_b1"), e("r_all_closed"), e("r_close")} <= set(body["entries"])
    assert _subjects(env, body) == {f"gtin:{GTIN}", f"uscc:{OWNER}"}
    small = _ok(env, f"/v1/products/{GTIN2_8}")
    assert small["gtin"] == GTIN2 and small["batches"] == 1
    assert [r["open"] for r in small["recalls"]] == [True]


def test_batches(env: Env) -> None:
    e = env.entry
    b1 = _ok(env, f"/v1/batches/{GTIN13}/B1")
    assert b1["gtin"] == GTIN and b1["batch"] == "B1"
    assert b1["quantity"] == 1200 and b1["port"] == "CNSZX"
    assert b1["produced_on"] == _ago(60)
    assert b1["expires_on"] == (TODAY + dt.timedelta(days=300)).isoformat()
    assert b1["declarant_uscc"] == BROKER and b1["declared_entry"] == e("b1")
    # The latest inspection by date, though an older one was recorded after it.
    assert b1["inspection"] == {
        "outcome": "non_conformant",
        "inspected_on": _ago(10),
        "entry": e("insp_new"),
    }
    assert b1["recalled"] is True and b1["recall_entries"] == [e("r_b1")]
    assert b1["codes"] == 500 and b1["codes_entries"] == [e("codes")]
    assert b1["entries"] == sorted([e("b1"), e("insp_new"), e("r_b1"), e("codes")])
    assert _subjects(env, b1) == {f"batch:{GTIN}/B1", f"gtin:{GTIN}"}

    b2 = _ok(env, f"/v1/batches/{GTIN}/B2")
    # Only a closed all-batches recall and a recall of B1 concern the product.
    assert b2["recalled"] is False and b2["recall_entries"] == []
    assert b2["inspection"] is None and b2["codes"] == 0 and b2["codes_entries"] == []
    assert b2["entries"] == [e("b2")]

    l1 = _ok(env, f"/v1/batches/{GTIN2_8}/L-1")
    assert l1["gtin"] == GTIN2 and l1["recalled"] is True
    assert l1["recall_entries"] == [e("r_p2")]


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/v1/enterprises/91440300000000043X", 400, "uscc"),  # wrong check character
        ("/v1/enterprises/9144030000000004", 400, "uscc"),  # too short
        ("/v1/enterprises/91440300000000I43U", 400, "uscc"),  # I is outside the alphabet
        (f"/v1/enterprises/{uscc(999)}", 404, None),
        (f"/v1/enterprises/{uscc(999).lower()}", 404, None),
        ("/v1/products/6901234567893", 400, "gtin"),  # check digit
        ("/v1/products/69012345", 400, "gtin"),  # GTIN-8 with a bad check digit
        ("/v1/products/690123456789x", 400, "gtin"),
        ("/v1/products/123456789", 400, "gtin"),  # 9 digits
        ("/v1/products/4006381333931", 404, None),
        ("/v1/batches/6901234567893/B1", 400, "gtin"),
        ("/v1/batches/abc/B1", 400, "gtin"),
        (f"/v1/batches/{GTIN13}/{'x' * 21}", 400, "batch"),
        (f"/v1/batches/{GTIN13}/B%2A1", 400, "batch"),
        (f"/v1/batches/{GTIN13}/B3", 404, None),
        ("/v1/batches/4006381333931/B1", 404, None),
    ],
)
def test_bad_and_unknown_identifiers(env: Env, url: str, status: int, field: str | None) -> None:
    response = env.client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field:
        assert body["errors"][0]["field"] == field
        assert field in body["detail"]
    assert "max-age=30" not in response.headers.get("cache-control", "")


def test_bad_uscc_detail_says_what_is_wrong(env: Env) -> None:
    body = env.client.get("/v1/enterprises/91440300000000043X").json()
    assert "check character should be U" in body["detail"]
    body = env.client.get("/v1/products/6901234567893").json()
    assert "check digit should be 2" in body["detail"]


def test_disclosure_windows() -> None:
    today = dt.date(2026, 6, 1)
    assert not is_disclosed("minor", today, today)
    assert is_disclosed("general", today - dt.timedelta(days=364), today)
    assert not is_disclosed("general", today - dt.timedelta(days=365), today)
    assert is_disclosed("serious", today - dt.timedelta(days=1094), today)
    assert not is_disclosed("serious", today - dt.timedelta(days=1095), today)
    assert not is_disclosed(None, today, today)
    rows = [
        {
            "item": "ciq.not-in-catalogue",
            "occurred_on": "2026-05-01",
            "case_no": "X",
            "entry": 1,
            "revoked_entry": None,
        },
        {
            "item": "ciq.obstruction",
            "occurred_on": "2026-05-01",
            "case_no": "Y",
            "entry": 2,
            "revoked_entry": 3,
        },
    ]
    # An item outside the catalogue is never shown; a revoked one is never shown.
    assert public_violations(rows, load_policy(), today) == []
