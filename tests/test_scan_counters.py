"""Scan counters stay exact when several processes count the same codes at once."""

from __future__ import annotations

import multiprocessing
import os
import uuid

import pytest
from sqlalchemy import Engine

from ledger.store.engine import create_db_engine
from lookup_api.routes.resolver.scans import count
from qr.scans import ScanCount

PROCESSES = 4
SCANS = 50
REDIS_URL = os.environ.get("CREDTRACE_TEST_REDIS_URL")


def _worker(database_url: str | None, redis_url: str | None, serials: list[str], n: int) -> None:
    engine = create_db_engine(database_url) if database_url else None
    for i in range(n):
        for serial in serials:
            count(engine, redis_url, serial, f"2026-12-03T00:00:{i % 60:02d}.{n:03d}Z")
    if engine is not None:
        engine.dispose()


def _run(database_url: str | None, redis_url: str | None, serials: list[str]) -> None:
    context = multiprocessing.get_context("spawn")  # fresh interpreters, fresh connections
    workers = [
        context.Process(target=_worker, args=(database_url, redis_url, serials, SCANS))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0


def _last(engine: Engine | None, redis_url: str | None, serial: str) -> ScanCount:
    return count(engine, redis_url, serial, "2026-12-03T01:00:00.000Z")


@pytest.mark.slow
def test_database_counters_are_exact_under_concurrency(db_url: str, engine: Engine) -> None:
    serials = ["AAAAAAAAAAAA0", "BBBBBBBBBBBB0"]
    _run(db_url, None, serials)
    for serial in serials:
        final = _last(engine, None, serial)
        assert final.count == PROCESSES * SCANS + 1
        assert final.first_scan.startswith("2026-12-03T00:00:00.")


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="Redis not configured (CREDTRACE_TEST_REDIS_URL)")
def test_redis_counters_are_exact_under_concurrency() -> None:
    assert REDIS_URL is not None
    import redis

    serials = [f"T{uuid.uuid4().hex[:12].upper()}" for _ in range(2)]
    try:
        _run(None, REDIS_URL, serials)
        for serial in serials:
            final = _last(None, REDIS_URL, serial)
            assert final.count == PROCESSES * SCANS + 1
            assert final.first_scan.startswith("2026-12-03T00:00:00.")
    finally:
        redis.Redis.from_url(REDIS_URL).delete(*(f"credtrace:scan:{s}" for s in serials))


def test_without_redis_the_database_counts(engine: Engine) -> None:
    # Nothing listens on port 1: the page is still answered, counted in the database.
    down = "redis://127.0.0.1:1/0"
    first = count(engine, down, "TDOWN1", "2026-12-03T00:00:00.000Z")
    second = count(engine, down, "TDOWN1", "2026-12-03T00:00:01.000Z")
    assert (first.count, second.count) == (1, 2)
    assert second.first_scan == "2026-12-03T00:00:00.000Z"
    assert count(engine, None, "TDOWN1", "2026-12-03T00:00:02.000Z").count == 3
