"""Rate limits: token buckets per address and per key, in-process and shared in Redis.

The buckets' arithmetic runs on a clock the test moves; the HTTP tests go through the
real app; the Redis tests run several processes (and a two-worker server) against one
real Redis and count what was admitted.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.problems import PROBLEM_JSON
from lookup_api.ratelimit import (
    EXEMPT_PATHS,
    LocalLimiter,
    RateLimitConfigError,
    RateLimits,
    RatePolicy,
    RedisLimiter,
)
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN
from tests.served import served


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_quota_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock)
    policy = RatePolicy("p", 3, 60)  # one token every 20 s
    decisions = [limiter.take_now("a", policy) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after == pytest.approx(20.0)
    assert limiter.take_now("b", policy).allowed  # another partition has its own bucket
    clock.now += 19.9
    assert not limiter.take_now("a", policy).allowed
    clock.now += 0.2
    assert limiter.take_now("a", policy).allowed
    assert not limiter.take_now("a", policy).allowed
    clock.now += 3600  # never more than the quota, however long it rests
    assert [limiter.take_now("a", policy).allowed for _ in range(4)] == [True, True, True, False]


def test_a_look_takes_nothing_and_old_buckets_are_forgotten_first() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock, capacity=2)
    policy = RatePolicy("p", 1, 60)
    assert limiter.take_now("a", policy, cost=0).allowed
    assert limiter.take_now("a", policy).allowed  # the look took no token
    assert not limiter.take_now("a", policy, cost=0).allowed
    limiter.take_now("b", policy)
    limiter.take_now("c", policy)  # "a" was used least recently: forgotten, so full again
    assert limiter.take_now("a", policy).allowed


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CREDTRACE_RATE_PUBLIC", "300", "REQUESTS/SECONDS"),
        ("CREDTRACE_RATE_PUBLIC", "x/60", "REQUESTS/SECONDS"),
        ("CREDTRACE_RATE_KEY", "10/1.5", "whole number"),
        ("CREDTRACE_RATE_KEY", "0/60", "at least 1"),
        ("CREDTRACE_RATE_AUTH_FAILURES", "5/0", "at least 1"),
        ("CREDTRACE_RATE_LIMITS", "maybe", "on or off"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(variable: str, value: str, named: str) -> None:
    with pytest.raises(RateLimitConfigError, match=named) as caught:
        RateLimits.from_env({variable: value})
    assert ("'" + value[:10]) in str(caught.value) or "got" in str(caught.value)


def test_settings_read_the_policies_and_the_trusted_proxies() -> None:
    limits = RateLimits.from_env(
        {
            "CREDTRACE_RATE_PUBLIC": "50/10",
            "CREDTRACE_RATE_LIMITS": "on",
            "CREDTRACE_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2",
        }
    )
    assert (limits.public.quota, limits.public.window) == (50, 10)
    assert limits.key == RateLimits().key
    assert limits.trusted_proxies == {"10.0.0.1", "10.0.0.2"}
    assert not RateLimits.from_env({"CREDTRACE_RATE_LIMITS": "off"}).enabled


def _settings(db_url: str, tmp_path: Path, limits: RateLimits) -> Settings:
    return Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        rate_limits=limits,
    )


@pytest.fixture
def small_limits() -> RateLimits:
    return RateLimits(
        public=RatePolicy("public", 5, 60),
        key=RatePolicy("key", 8, 60),
        auth_failures=RatePolicy("auth_failures", 3, 60),
    )


@pytest.fixture
def limited(
    db_url: str, tmp_path: Path, small_limits: RateLimits
) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(_settings(db_url, tmp_path, small_limits))) as client:
        yield client


def test_an_address_gets_its_quota_then_429_with_when_to_retry(
    limited: TestClient[Litestar],
) -> None:
    answers = [limited.get("/v1/ledger/key") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].headers["ratelimit-policy"] == '"public";q=5;w=60'
    assert [a.headers["ratelimit"].split(";")[1] for a in answers] == [
        "r=4",
        "r=3",
        "r=2",
        "r=1",
        "r=0",
    ]
    refused = limited.head("/checkpoint")  # HEAD counts like any request
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert 1 <= int(refused.headers["retry-after"]) <= 12
    body = limited.get("/v1/ledger/entries/0").json()
    assert body["status"] == 429 and body["type"] == "/problems/rate-limited"
    assert "5 requests in 60 s" in body["detail"]
    assert body["instance"] == "/v1/ledger/entries/0"
    for path in EXEMPT_PATHS:  # liveness is never refused
        assert limited.get(path).status_code == 200


def test_a_key_has_its_own_bucket_and_bad_keys_exhaust_the_address(
    limited: TestClient[Litestar], db_url: str
) -> None:
    services: Services = limited.app.state.services
    _, token = create_key(services.engine, "officer")
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(5):
        assert limited.get("/v1/ledger/key").status_code == 200
    assert limited.get("/v1/ledger/key").status_code == 429  # the address is spent
    keyed = [limited.get("/v1/ledger/key", headers=auth) for _ in range(9)]
    assert [a.status_code for a in keyed] == [200] * 8 + [429]
    assert keyed[0].headers["ratelimit-policy"] == '"key";q=8;w=60'

    # Invented tokens: each answered 401, and each costs the address; then none is read.
    body = {"kind": "enterprise.filed", "payload": {}}
    for n in range(3):
        bogus = {"Authorization": f"Bearer ct_{n:08x}_{'x' * 32}"}
        assert limited.post("/v1/records", json=body, headers=bogus).status_code == 401
    refused = limited.post(
        "/v1/records", json=body, headers={"Authorization": "Bearer ct_00000009_" + "y" * 32}
    )
    assert refused.status_code == 429
    assert refused.headers["ratelimit-policy"] == '"auth_failures";q=3;w=60'


def test_every_limited_route_documents_429(limited: TestClient[Litestar]) -> None:
    schema = limited.get("/schema/openapi.json").json()
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in {"get", "post", "put", "delete", "patch"}
        and path not in EXEMPT_PATHS
        and "429" not in operation.get("responses", {})
    ]
    assert not undocumented, undocumented


def test_limits_switched_off_admit_everything(db_url: str, tmp_path: Path) -> None:
    limits = RateLimits(public=RatePolicy("public", 1, 60), enabled=False)
    with TestClient(create_app(_settings(db_url, tmp_path, limits))) as client:
        answers = [client.get("/v1/ledger/key") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert "ratelimit" not in answers[0].headers


def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(
    db_url: str, tmp_path: Path
) -> None:
    policy = RatePolicy("public", 2, 60)
    trusting = RateLimits(public=policy, trusted_proxies=frozenset({"testclient"}))
    with TestClient(create_app(_settings(db_url, tmp_path, trusting))) as client:
        for hop in ("198.51.100.7", "198.51.100.8"):  # two callers behind the proxy
            forwarded = {"X-Forwarded-For": f"203.0.113.9, {hop}"}
            assert [
                client.get("/v1/ledger/key", headers=forwarded).status_code for _ in range(3)
            ] == [
                200,
                200,
                429,
            ]
    distrusting = RateLimits(public=policy)
    with TestClient(create_app(_settings(db_url, tmp_path, distrusting))) as client:
        spoofed = [
            client.get("/v1/ledger/key", headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code
            for n in range(3)
        ]
    assert spoofed == [200, 200, 429]  # a forged header does not make a new caller


# -- Redis: one bucket for every process -----------------------------------------------


def _take_many(url: str, prefix: str, quota: int, takes: int, start: object) -> int:
    async def run() -> int:
        limiter = RedisLimiter(url, prefix)
        policy = RatePolicy("shared", quota, 3600)  # refills 1 token per 72 s at quota 50
        try:
            results = await asyncio.gather(*(limiter.take("one", policy) for _ in range(takes)))
        finally:
            await limiter.close()
        return sum(d.allowed for d in results)

    start.wait()  # type: ignore[attr-defined]
    return asyncio.run(run())


def test_processes_sharing_redis_admit_the_quota_once(redis_url: str, redis_prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    with context.Pool(4) as pool:
        pending = [
            pool.apply_async(_take_many, (redis_url, redis_prefix, 50, 40, start)) for _ in range(4)
        ]
        start.set()
        admitted = [p.get(timeout=120) for p in pending]
    assert 50 <= sum(admitted) <= 51, admitted  # the quota, plus at most one refill
    assert all(a < 40 for a in admitted) or sum(admitted) == 50


def test_without_redis_the_process_counts_alone(tmp_path: Path) -> None:
    async def run() -> list[bool]:
        limiter = RedisLimiter("redis://127.0.0.1:1/0")  # nothing listens there
        policy = RatePolicy("p", 2, 60)
        try:
            return [(await limiter.take("a", policy)).allowed for _ in range(3)]
        finally:
            await limiter.close()

    assert asyncio.run(run()) == [True, True, False]


@pytest.mark.slow
def test_two_workers_on_redis_admit_the_limit_in_total(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    env = {
        "CREDTRACE_DATABASE_URL": db_url,
        "CREDTRACE_KEY_FILE": str(tmp_path / "ledger.key"),
        "CREDTRACE_ORIGIN": ORIGIN,
        "CREDTRACE_REDIS_URL": redis_url,
        "CREDTRACE_REDIS_PREFIX": redis_prefix,
        "CREDTRACE_RATE_PUBLIC": "30/3600",
    }
    with served(env) as server:
        url = f"{server.base}/v1/ledger/key"
        with httpx.Client(timeout=30) as http, ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: http.get(url).status_code, range(100)))
        assert statuses.count(200) in (30, 31), statuses  # within the limit, ± one refill
        assert statuses.count(429) == 100 - statuses.count(200)
