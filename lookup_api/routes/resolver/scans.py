"""Scan counters: Redis when ``CREDTRACE_REDIS_URL`` is set, the database otherwise.

Either way one view costs one round trip: in Redis a MULTI/EXEC of INCR, SET NX of the
first scan's time and GET of it; in the database one upsert with RETURNING. While Redis
cannot be reached (within half a second) the database counts, with one warning: the
consumer's page is never refused for a counter.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from qr.scans import ScanCount, count_scan

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_warned: set[str] = set()
log = logging.getLogger("credtrace")
REDIS_TIMEOUT = 0.5  # seconds: a scan waits no longer for Redis than this


def _redis(url: str) -> Any:
    with _lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = _clients[url] = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
        return client


def count_in_redis(url: str, serial: str, now: str, prefix: str = "credtrace:") -> ScanCount:
    key = f"{prefix}scan:{serial}"
    pipe = _redis(url).pipeline(transaction=True)
    pipe.hincrby(key, "count", 1)
    pipe.hsetnx(key, "first", now)
    pipe.hset(key, "last", now)
    pipe.hget(key, "first")
    count, _, _, first = pipe.execute()
    return ScanCount(int(count), str(first))


def count(
    engine: Any, redis_url: str | None, serial: str, now: str, prefix: str = "credtrace:"
) -> ScanCount:
    if redis_url:
        from redis.exceptions import RedisError

        try:
            found = count_in_redis(redis_url, serial, now, prefix)
        except (RedisError, OSError) as exc:
            if redis_url not in _warned:
                _warned.add(redis_url)
                log.warning("scan counts: Redis unavailable (%s); counting in the database", exc)
        else:
            _warned.discard(redis_url)
            return found
    return count_scan(engine, serial, now)
