"""Scan counters: Redis when ``CREDTRACE_REDIS_URL`` is set, the database otherwise.

Either way one view costs one round trip: in Redis a MULTI/EXEC of INCR, SET NX of the
first scan's time and GET of it; in the database one upsert with RETURNING.
"""

from __future__ import annotations

import threading
from typing import Any

from qr.scans import ScanCount, count_scan

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _redis(url: str) -> Any:
    with _lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = _clients[url] = redis.Redis.from_url(url, decode_responses=True)
        return client


def count_in_redis(url: str, serial: str, now: str) -> ScanCount:
    key = f"credtrace:scan:{serial}"
    pipe = _redis(url).pipeline(transaction=True)
    pipe.hincrby(key, "count", 1)
    pipe.hsetnx(key, "first", now)
    pipe.hset(key, "last", now)
    pipe.hget(key, "first")
    count, _, _, first = pipe.execute()
    return ScanCount(int(count), str(first))


def count(engine: Any, redis_url: str | None, serial: str, now: str) -> ScanCount:
    if redis_url:
        return count_in_redis(redis_url, serial, now)
    return count_scan(engine, serial, now)
