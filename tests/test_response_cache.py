"""The response cache (lookup_api.cache) over the real app, real Redis and both databases.

A change recorded through the API shows on the very next read; each kind of change
invalidates what it touches and nothing else; two services sharing Redis see each
other's appends; a reader that refills the cache with what it read before a commit
cannot leave a stale value; Redis failing never fails a read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.records.entry import record_entry
from ledger.store.config import LedgerConfig
from ledger.tlog.envelope import format_time
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.routes.resolver.service import Resolution, cacheable, read_resolution
from lookup_api.routes.state.controller import BatchView, EnterpriseProfile, ProductView
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.issuance import issue_codes
from qr.links import DigitalLink
from tests.codes_env import BATCH, BROKER, GTIN, OTHER_GTIN, OWNER, STRANGER, appender, batch
from tests.codes_env import product as product_payload
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload
from tests.served import served

JSON = {"Accept": "application/json"}
STRANGER_GTIN = "00000000000017"  # GTIN-8 00000017, stored as 14 digits
OTHER_BATCH = "B2"
KINDS: dict[str, type[Any]] = {
    "resolve": Resolution,
    "profile": EnterpriseProfile,
    "product": ProductView,
    "batch": BatchView,
}


def _seed(services: Services) -> list[str]:
    """Owner (two products, batches B1 and B2 of the first, five codes of B1), broker,
    and a stranger with a product of its own, on notice of blacklisting for 40 days."""
    ledger = services.ledger
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=41)

    def add(kind: str, payload: dict[str, Any], at: dt.datetime | None = None) -> None:
        time_ = None if at is None else format_time(at)
        result = ledger.append([record_entry(kind, payload, "officer:test", time=time_)])
        assert not result.rejected, result.rejected

    for n, roles in ((4, ["importer"]), (1, ["customs_broker"]), (5, ["importer"])):
        add("enterprise.filed", enterprise_payload(n, roles=roles), old)
    add("blacklist.noticed", {"uscc": STRANGER, "reason": "obstruction"}, old + dt.timedelta(1))
    add("product.filed", product_payload(GTIN, OWNER))
    add("product.filed", product_payload(OTHER_GTIN, OWNER, "橄榄油"))
    add("product.filed", product_payload(STRANGER_GTIN, STRANGER, "蜂蜜"))
    add("batch.declared", batch(GTIN, BATCH))
    add("batch.declared", batch(GTIN, OTHER_BATCH))
    issued = issue_codes(
        services.engine,
        appender(ledger),
        gtin=GTIN,
        batch=BATCH,
        count=5,
        key_id="0123abcd",
        actor="officer:test",
    )
    return list(issued.serials)


@dataclass
class Env:
    client: TestClient[Litestar]
    services: Services
    officer: str
    serials: list[str]

    def get(self, path: str, **headers: str) -> Any:
        response = self.client.get(path, headers=headers, follow_redirects=False)
        assert response.status_code == 200, response.text
        return response

    def record(self, kind: str, payload: dict[str, Any]) -> int:
        response = self.client.post(
            "/v1/records",
            json={"kind": kind, "payload": payload},
            headers={"Authorization": f"Bearer {self.officer}"},
        )
        assert response.status_code == 201, response.text
        return int(response.json()["index"])

    def resolve(self, path: str) -> dict[str, Any]:
        body: dict[str, Any] = self.get(path, **JSON).json()
        return body

    def counts(self) -> dict[tuple[str, str], int]:
        text = self.get("/metrics").text
        found = re.findall(
            r'credtrace_cache_lookups_total\{kind="(\w+)",outcome="(\w+)"\} (\d+)', text
        )
        return {(kind, outcome): int(n) for kind, outcome, n in found}


def _settings(db_url: str, tmp_path: Path, redis: str | None, prefix: str) -> Settings:
    return Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        redis_url=redis,
        redis_prefix=prefix,
    )


@pytest.fixture
def cached(db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Env]:
    yield from _env(_settings(db_url, tmp_path, redis_url, redis_prefix))


def _env(settings: Settings) -> Generator[Env]:
    services = Services.open(settings)
    try:
        serials = _seed(services)
        officer = create_key(services.engine, "officer")[1]
        with TestClient(create_app(settings, services)) as client:
            yield Env(client, services, officer, serials)
    finally:
        services.close()


@pytest.fixture(params=["redis", "no cache"])
def either(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, redis_prefix: str
) -> Iterator[Env]:
    redis = request.getfixturevalue("redis_url") if request.param == "redis" else None
    yield from _env(_settings(db_url, tmp_path, redis, redis_prefix))


def _recall(batches: list[str], reason: str = "melamine") -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return {"gtin": GTIN, "batches": batches, "reason": reason, "issued_on": today}


def test_a_recall_through_the_api_shows_on_the_very_next_resolve(either: Env) -> None:
    env = either
    code = f"/01/{GTIN}/10/{BATCH}/21/{env.serials[0]}"
    for _ in range(2):  # the second from the cache, when there is one
        body = env.resolve(code)
        assert body["batch"]["recalled"] is False and body["recalls"] == []
        page = env.get("/info" + code).text
        assert "召回警告" not in page
    entry = env.record("recall.issued", _recall([BATCH]))
    body = env.resolve(code)
    assert body["batch"]["recalled"] is True
    assert [r["entry"] for r in body["recalls"]] == [entry]
    assert "召回警告：该批次产品正在召回（melamine）" in env.get("/info" + code).text
    assert [r["entry"] for r in env.get(f"/v1/products/{GTIN}").json()["recalls"]] == [entry]
    assert env.get(f"/v1/batches/{GTIN}/{BATCH}").json()["recall_entries"] == [entry]
    recalls = env.get(f"/v1/enterprises/{OWNER}").json()["recalls"]
    assert [r["entry"] for r in recalls] == [entry]
    if env.services.cache is not None:
        counts = env.counts()
        assert counts[("resolve", "hit")] >= 3 and counts[("resolve", "stale")] >= 1


def test_a_hit_is_answered_from_redis_and_the_scan_count_stays_per_request(cached: Env) -> None:
    code = f"/01/{GTIN}/10/{BATCH}/21/{cached.serials[1]}"
    before = cached.counts()
    pages = [cached.get("/info" + code).text for _ in range(3)]
    after = cached.counts()
    assert after.get(("resolve", "miss"), 0) - before.get(("resolve", "miss"), 0) == 1
    assert after[("resolve", "hit")] - before.get(("resolve", "hit"), 0) == 2
    # The facts are cached, the page is not: every view is counted.
    assert [re.findall(r"第(\d+)次查询", page) for page in pages] == [["1"], ["2"], ["3"]]
    # The cached bytes are really in Redis, under the service's prefix.
    cache = cached.services.cache
    assert cache is not None
    assert cache.client.exists(cache.values + "resolve:" + code)
    assert cache.values.startswith(cached.services.settings.redis_prefix)


# Every cached read of the fixture's world, by (kind, identifier) as the cache keys them.
def _reads(env: Env) -> dict[str, tuple[str, str, str]]:
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    serial = env.serials[0]
    code = f"/01/{GTIN}/10/{BATCH}/21/{serial}"
    return {
        "code": ("resolve", code, code),
        "batch B1": ("resolve", f"/01/{GTIN}/10/{BATCH}", f"/01/{GTIN}/10/{BATCH}"),
        "batch B2": ("resolve", f"/01/{GTIN}/10/{OTHER_BATCH}", f"/01/{GTIN}/10/{OTHER_BATCH}"),
        "product": ("resolve", f"/01/{GTIN}", f"/01/{GTIN}"),
        "other product": ("resolve", f"/01/{OTHER_GTIN}", f"/01/{OTHER_GTIN}"),
        "stranger's product": ("resolve", f"/01/{STRANGER_GTIN}", f"/01/{STRANGER_GTIN}"),
        "owner profile": ("profile", f"{OWNER}@{today}", f"/v1/enterprises/{OWNER}"),
        "stranger profile": ("profile", f"{STRANGER}@{today}", f"/v1/enterprises/{STRANGER}"),
        "product view": ("product", GTIN, f"/v1/products/{GTIN}"),
        "batch view B1": ("batch", f"{GTIN}/{BATCH}", f"/v1/batches/{GTIN}/{BATCH}"),
        "batch view B2": ("batch", f"{GTIN}/{OTHER_BATCH}", f"/v1/batches/{GTIN}/{OTHER_BATCH}"),
    }


def _warm(env: Env) -> None:
    for _, _, path in _reads(env).values():
        env.get(path, **JSON)


def _still_cached(env: Env) -> set[str]:
    cache = env.services.cache
    assert cache is not None
    return {
        name
        for name, (kind, ident, _) in _reads(env).items()
        if cache.lookup(kind, ident, KINDS[kind]) is not None
    }


def test_each_change_invalidates_exactly_what_it_touches(cached: Env) -> None:
    env = cached
    everything = set(_reads(env))
    _warm(env)
    assert _still_cached(env) == everything

    # A revoked code: its batch's reads, nothing else.
    env.record(
        "codes.revoked",
        {"gtin": GTIN, "batch": BATCH, "serials": [env.serials[0]], "reason": "stolen labels"},
    )
    assert _still_cached(env) == everything - {"code", "batch B1", "batch view B1"}
    assert env.resolve(_reads(env)["code"][1])["code"]["status"] == "revoked"
    _warm(env)

    # A new inspection result of batch B2: that batch's reads (the broker who declared
    # it may be regraded, but the broker owns no product).
    env.record(
        "inspection.result",
        {
            "gtin": GTIN,
            "batch": OTHER_BATCH,
            "outcome": "non_conformant",
            "inspected_on": dt.datetime.now(dt.UTC).date().isoformat(),
            "accepted_third_party": False,
        },
    )
    assert _still_cached(env) == everything - {"batch B2", "batch view B2"}
    body = env.resolve(f"/01/{GTIN}/10/{OTHER_BATCH}")
    assert body["batch"]["inspection"]["outcome"] == "non_conformant"
    _warm(env)

    # A grade change (a serious violation: the regrading follows in the same batch):
    # everything that shows the owner (a batch view does not), none of the stranger's.
    grade_before = env.resolve(f"/01/{OTHER_GTIN}")["enterprise"]["grade"]
    env.record(
        "violation.recorded",
        {
            "uscc": OWNER,
            "item": "ciq.adulteration",
            "occurred_on": dt.datetime.now(dt.UTC).date().isoformat(),
            "case_no": "CASE-1",
        },
    )
    owners = everything - {
        "stranger's product",
        "stranger profile",
        "batch view B1",
        "batch view B2",
    }
    assert _still_cached(env) == everything - owners
    grade_after = env.resolve(f"/01/{OTHER_GTIN}")["enterprise"]["grade"]
    assert grade_after != grade_before and grade_after == "C"
    assert env.get(f"/v1/enterprises/{OWNER}").json()["grade"] == "C"
    _warm(env)

    # A blacklisting of the stranger: its profile and its product, nothing of the owner.
    env.record("blacklist.listed", {"uscc": STRANGER, "reason": "obstruction"})
    assert _still_cached(env) == everything - {"stranger's product", "stranger profile"}
    assert env.resolve(f"/01/{STRANGER_GTIN}")["enterprise"]["blacklist"] == "listed"
    assert "失信警告" in env.get(f"/info/01/{STRANGER_GTIN}").text
    _warm(env)

    # A batch declared: the product view (which counts batches), not the resolutions.
    env.record("batch.declared", {**batch(GTIN, "B3"), "declarant_uscc": BROKER})
    assert _still_cached(env) == everything - {"product view"}
    assert env.get(f"/v1/products/{GTIN}").json()["batches"] == 3


def test_two_services_sharing_redis_see_each_others_appends(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = _settings(db_url, tmp_path, redis_url, redis_prefix)
    writer_side = _env(settings)
    writer = next(writer_side)
    reader_services = Services.open(settings)
    try:
        with TestClient(create_app(settings, reader_services)) as reader_client:
            reader = Env(reader_client, reader_services, writer.officer, writer.serials)
            code = f"/01/{GTIN}/10/{BATCH}/21/{writer.serials[0]}"
            for _ in range(2):
                assert reader.resolve(code)["batch"]["recalled"] is False
            assert reader.counts()[("resolve", "hit")] == 1
            entry = writer.record("recall.issued", _recall([]))
            body = reader.resolve(code)
            assert body["batch"]["recalled"] is True
            assert [r["entry"] for r in body["recalls"]] == [entry]
            assert reader.counts()[("resolve", "stale")] == 1
    finally:
        reader_services.close()
        writer_side.close()


def test_an_import_by_another_process_invalidates_the_servers_next_read(
    cached: Env, tmp_path: Path
) -> None:
    env = cached
    settings = env.services.settings
    code = f"/01/{GTIN}/10/{BATCH}/21/{env.serials[2]}"
    for _ in range(2):
        assert env.resolve(code)["batch"]["recalled"] is False
    records = tmp_path / "recall.jsonl"
    records.write_text(json.dumps({"kind": "recall.issued", "payload": _recall([])}) + "\n")
    assert settings.redis_url is not None
    done = subprocess.run(
        [sys.executable, "-m", "lookup_api.cli", "import", str(records), "--actor", "operator:cli"],
        env={
            **os.environ,
            "CREDTRACE_DATABASE_URL": settings.ledger.database_url,
            "CREDTRACE_KEY_FILE": str(settings.ledger.key_file),
            "CREDTRACE_ORIGIN": settings.ledger.origin,
            "CREDTRACE_REDIS_URL": settings.redis_url,
            "CREDTRACE_REDIS_PREFIX": settings.redis_prefix,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert env.resolve(code)["batch"]["recalled"] is True


def test_a_reader_that_refills_after_the_invalidation_leaves_nothing_stale(cached: Env) -> None:
    env = cached
    cache = env.services.cache
    assert cache is not None
    link = DigitalLink(GTIN, BATCH)
    # 1. A reader reads the facts before the recall commits...
    started = time.monotonic()
    before = cacheable(read_resolution(env.services, link))
    assert before is not None and before.value.product.recalls == []
    # 2. ...the recall commits and its append is acknowledged (the marks are written)...
    entry = env.record("recall.issued", _recall([BATCH]))
    # 3. ...and only then does the reader put what it read into the cache.
    cache.store("resolve", link.path(), before, started)
    assert cache.client.exists(cache.values + "resolve:" + link.path())
    # The stale value is never served: the next resolve reads the recall...
    assert cache.lookup("resolve", link.path(), Resolution) is None
    body = env.resolve(link.path())
    assert [r["entry"] for r in body["recalls"]] == [entry]
    # ...and what it stored is served after it.
    again = cache.lookup("resolve", link.path(), Resolution)
    assert again is not None and [r.entry for r in again.product.recalls] == [entry]


def test_a_reader_that_read_after_the_commit_is_kept(cached: Env) -> None:
    env = cached
    cache = env.services.cache
    assert cache is not None
    link = DigitalLink(GTIN)
    env.record("recall.issued", _recall([]))
    started = time.monotonic()
    after = cacheable(read_resolution(env.services, link))
    assert after is not None
    cache.store("resolve", link.path(), after, started)
    kept = cache.lookup("resolve", link.path(), Resolution)
    assert kept is not None and len(kept.product.recalls) == 1


def test_guessed_serials_are_not_cached(cached: Env) -> None:
    guess = f"/01/{GTIN}/10/{BATCH}/21/{'7' * 13}"
    for _ in range(2):
        assert cached.resolve(guess)["resolved"]["level"] == "batch"
    counts = cached.counts()
    assert counts[("resolve", "miss")] == 2 and ("resolve", "hit") not in counts


class Kept(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


def test_without_reachable_redis_reads_and_writes_still_answer(
    db_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    settings = _settings(db_url, tmp_path, "redis://127.0.0.1:1/0", redis_prefix)
    handler = Kept(logging.WARNING)
    logging.getLogger("credtrace").addHandler(handler)
    try:
        env = _env(settings)
        opened = next(env)
        try:
            code = f"/01/{GTIN}/10/{BATCH}"
            assert opened.resolve(code)["batch"]["recalled"] is False
            opened.record("recall.issued", _recall([BATCH]))
            assert opened.resolve(code)["batch"]["recalled"] is True
            assert opened.get(f"/v1/enterprises/{OWNER}").json()["recalls"]
        finally:
            env.close()
    finally:
        logging.getLogger("credtrace").removeHandler(handler)
    warnings = [r for r in handler.seen if "response cache: Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_a_value_another_version_wrote_is_read_anew(cached: Env) -> None:
    cache = cached.services.cache
    assert cache is not None
    path = f"/01/{GTIN}"
    cached.resolve(path)
    key = cache.values + "resolve:" + path
    cache.client.hset(key, "b", b"\x81\xa3old\x01")  # a map this version does not read
    assert cached.resolve(path)["product"]["gtin"] == GTIN
    assert cache.lookup("resolve", path, Resolution) is not None  # stored anew


@pytest.mark.slow
def test_a_recall_shows_on_the_next_resolve_through_every_worker(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = _settings(db_url, tmp_path, redis_url, redis_prefix)
    services = Services.open(settings)
    try:
        serials = _seed(services)
        officer = create_key(services.engine, "officer")[1]
    finally:
        services.close()
    env = {
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(settings.ledger.key_file),
        "CREDTRACE_CODE_KEY_FILE": str(settings.code_key_file),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_REDIS_URL": redis_url,
        "CREDTRACE_REDIS_PREFIX": redis_prefix,
        "CREDTRACE_RATE_LIMITS": "off",
        "CREDTRACE_RECOMPUTE": "off",
    }
    with served(env) as server:
        base = server.base
        code = f"{base}/01/{GTIN}/10/{BATCH}/21/{serials[0]}"
        # New connections each time, so both workers answer and cache.
        for _ in range(20):
            assert httpx.get(code, headers=JSON).json()["batch"]["recalled"] is False
        answer = httpx.post(
            f"{base}/v1/records",
            json={"kind": "recall.issued", "payload": _recall([BATCH])},
            headers={"Authorization": f"Bearer {officer}"},
        )
        assert answer.status_code == 201, answer.text
        for _ in range(20):
            assert httpx.get(code, headers=JSON).json()["batch"]["recalled"] is True
        metrics = httpx.get(f"{base}/metrics").text
        hits = re.search(
            r'credtrace_cache_lookups_total\{kind="resolve",outcome="hit"\} (\d+)', metrics
        )
        assert hits is not None and int(hits.group(1)) >= 18, metrics


def test_a_serial_asked_without_its_batch_shows_a_revocation_on_the_next_resolve(
    cached: Env,
) -> None:
    """``/01/{gtin}/21/{serial}`` names no batch; its answer depends on the code's batch."""
    env = cached
    path = f"/01/{GTIN}/21/{env.serials[1]}"
    assert env.resolve(path)["code"]["status"] == "genuine"
    before = env.counts().get(("resolve", "hit"), 0)
    assert env.resolve(path)["code"]["status"] == "genuine"
    assert env.counts().get(("resolve", "hit"), 0) == before + 1  # really cached
    env.record(
        "codes.revoked",
        {"gtin": GTIN, "batch": BATCH, "serials": [env.serials[1]], "reason": "stolen labels"},
    )
    assert env.resolve(path)["code"]["status"] == "revoked"


def test_a_full_feed_page_is_cached_until_an_entry_changes_what_it_discloses(
    cached: Env,
) -> None:
    occurred = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)).isoformat()
    violation = cached.record(
        "violation.recorded",
        {"uscc": OWNER, "item": "ciq.evade-inspection", "occurred_on": occurred, "case_no": "C"},
    )
    cached.record("complaint.received", {"uscc": OWNER, "channel": "12365", "summary": "s"})
    page = f"/v1/feed?after={violation - 1}&limit=1"  # full: the log goes past it

    def change() -> dict[str, Any]:
        body: dict[str, Any] = cached.get(page).json()
        assert body["tree_size"] == cached.services.ledger.size()  # per request, never cached
        [only] = body["changes"]
        assert only["index"] == violation and body["next_after"] == violation
        return dict(only)

    shown = change()
    assert shown["payload"] is not None and not shown["withheld"]  # a general one, in its window
    before = cached.counts()
    assert change() == shown
    after = cached.counts()
    assert after.get(("feed", "hit"), 0) == before.get(("feed", "hit"), 0) + 1
    # Revoking it withholds it from then on: an entry on the enterprise, not on the page.
    cached.record("violation.revoked", {"uscc": OWNER, "entry": violation, "reason": "overturned"})
    revoked = change()
    assert revoked["withheld"] and revoked["payload"] is None, revoked
