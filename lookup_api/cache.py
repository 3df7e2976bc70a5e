"""Response caching in Redis for the hot public reads: resolve, profile, product, batch,
and the feed's full pages (their changes as encoded JSON, with the subjects they name).

What is cached are the facts behind an answer (a resolver ``Resolution``, an
``EnterpriseProfile``, a ``ProductView``, a ``BatchView``), msgpack-encoded and keyed by
identifier; every answer is still rendered per request, so what is per request (a
code's scan count, the language, the base URL) is never cached.

Invalidation is by tree size, not by deletion. A value is stored with the size of the
snapshot it was read in (``size``) and the subjects it depends on (``deps``: the ledger
subjects ``uscc:…``, ``gtin:…``, ``batch:…/…`` and ``batches-of:{gtin}``). After each
append transaction commits, and before any writer is answered, the sequencer's
``Invalidator`` marks every subject the batch touched with the batch's last index
(``touched[subject] = max(touched, index)``). A value is valid only while every one of
its deps has no mark at or past its ``size``; the check and the read are one Lua script,
so one round trip. This closes the stale-refill race that deleting keys leaves open: a
reader that read the old state before the commit and writes it to the cache after the
invalidation writes a value whose ``size`` is at most the marked index, so it is never
served. A mark is made after the commit, never before, so a reader that refills in
between reads the new state. Hence a change shows on the very next read after its
append is acknowledged.

What an entry touches (``touched_by``): its subject; for a product's entries
(``gtin:``: filing, revocation, recalls) also its owner's ``uscc:`` (the profile counts
products and lists recalls); for ``batch.declared`` also ``batches-of:{gtin}`` (the
product view counts batches). A grade change is a ``credit.graded`` entry on the
enterprise, in the same batch as the facts that changed it, so it invalidates the
profile and the resolutions of every product of that owner (they depend on its
``uscc:``). A redaction, or a subject of an unknown shape, marks ``*``, on which every
value depends. A code's state depends on its batch (``codes.issued``/``.revoked`` are
``batch:`` entries). A resolution whose code is not genuine-or-revoked (a guess, a
mistyped or copied serial) is not cached: guesses cost nothing to make and would fill
Redis, and a serial unknown today may be issued tomorrow without touching its batch.

Values expire after ``VALUE_TTL`` as a backstop, marks after ``MARK_TTL``; a reader
that took longer than ``MAX_READ_SECONDS`` does not store, so no value outlives a mark
that invalidates it. A profile is keyed by the day in China too (disclosure windows move
with the date).

Without Redis (``CREDTRACE_REDIS_URL`` unset) nothing is cached: an in-process cache would
not see appends made by the other workers of ``credtrace serve --workers N`` or by the
CLI, and reading the database is what a miss costs anyway.

Redis failure never fails a request: a read falls back to the database (with one
warning) and the cache is left alone for ``BACKOFF_SECONDS``. Marks that could not be
written are kept and retried at the next commit; until they are written this process
reads past its cache (another process may serve a stale value until ``VALUE_TTL``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Connection

from ledger.store.entries import NewEntry
from ledger.store.sql import placeholders
from lookup_api.redis_pipe import RedisPipe, RedisPipeError, ReplyError

T = TypeVar("T")
log = logging.getLogger("credtrace")

VALUE_TTL = 300  # seconds a cached value lives at most (a backstop: marks invalidate)
MAX_READ_SECONDS = 60.0  # a read slower than this is not stored
MARK_TTL = 3600  # > VALUE_TTL + MAX_READ_SECONDS: a mark outlives what it invalidates
REDIS_TIMEOUT = 0.5  # seconds a request waits for Redis at most
BACKOFF_SECONDS = 1.0  # after a Redis failure, read past the cache this long
MARK_CHUNK = 1000  # subjects per mark script call (a bulk batch touches thousands)
EVERYTHING = "*"  # the dependency of every value: a redaction marks it

# Outcomes counted in /metrics by kind.
HIT, MISS, STALE, BYPASS = "hit", "miss", "stale", "bypass"

# KEYS[1] the value; ARGV[1] the mark key prefix. Returns {0} when absent, {1} when
# invalidated (and deletes it), {2, bytes} when valid.
_LOOKUP = """
local v = redis.call('HMGET', KEYS[1], 's', 'd', 'b')
if not v[3] then return {0} end
local size = tonumber(v[1])
for dep in string.gmatch(v[2], '[^\\n]+') do
  local mark = redis.call('GET', ARGV[1] .. dep)
  if mark and tonumber(mark) >= size then
    redis.call('DEL', KEYS[1])
    return {1}
  end
end
return {2, v[3]}
"""

# KEYS[1] the value; ARGV the size, the deps, the bytes and the TTL: one atomic write.
_STORE = """
redis.call('HSET', KEYS[1], 's', ARGV[1], 'd', ARGV[2], 'b', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS the marks; ARGV[1] the index, ARGV[2] the TTL. A mark only grows.
_MARK = """
local index = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local mark = redis.call('GET', key)
  if mark == false or tonumber(mark) < index then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', key, ARGV[2])
  end
end
return #KEYS
"""


def enterprise_dep(uscc: str) -> str:
    return f"uscc:{uscc}"


def product_dep(gtin: str) -> str:
    return f"gtin:{gtin}"


def batch_dep(gtin: str, batch: str) -> str:
    return f"batch:{gtin}/{batch}"


def batches_dep(gtin: str) -> str:
    """The set of a product's declared batches (the product view counts them)."""
    return f"batches-of:{gtin}"


def touched_by(conn: Connection, entries: Sequence[NewEntry]) -> set[str]:
    """The cache dependencies ``entries`` change, read in their own transaction."""
    touched: set[str] = set()
    products: set[str] = set()
    for entry in entries:
        kind, _, rest = entry.subject.partition(":")
        if kind == "uscc":
            touched.add(entry.subject)
        elif kind == "gtin":
            touched.add(entry.subject)
            products.add(rest)
        elif kind == "batch":
            touched.add(entry.subject)
            if entry.kind == "batch.declared":
                touched.add(batches_dep(rest.partition("/")[0]))
        elif kind != "draw":
            touched.add(EVERYTHING)  # a redaction, or a subject no cached view knows
    ordered = sorted(products)
    for start in range(0, len(ordered), MARK_CHUNK):
        chunk = tuple(ordered[start : start + MARK_CHUNK])
        sql = f"SELECT owner_uscc FROM proj_products WHERE gtin IN ({', '.join('?' * len(chunk))})"
        for (owner,) in conn.exec_driver_sql(placeholders(conn, sql), chunk):
            if owner is not None:
                touched.add(enterprise_dep(str(owner)))
    return touched


@dataclass(frozen=True)
class Fresh(Generic[T]):
    """A value just read from the database, with what a cache needs to keep it."""

    value: T
    size: int  # the tree size of the snapshot it was read in
    deps: tuple[str, ...]  # the subjects whose change makes it stale
    keep: bool = True  # False: answer with it, do not cache it


class ResponseCache:
    """Facts by (kind, identifier) in Redis, invalidated by the marks of later appends."""

    def __init__(self, url: str, prefix: str = "credtrace:", ttl: int = VALUE_TTL) -> None:
        import redis

        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self.values = f"{prefix}cache:v:"
        self.marks = f"{prefix}cache:t:"
        self.ttl = ttl
        self._lookup = self.client.register_script(_LOOKUP)
        self._store = self.client.register_script(_STORE)
        self._mark = self.client.register_script(_MARK)
        # The event loop's lookups and stores (fetch_async): one pipelined connection.
        self.pipe = RedisPipe(url, REDIS_TIMEOUT)
        self._pipe_lookup = self.pipe.script(_LOOKUP)
        self._pipe_store = self.pipe.script(_STORE)
        self._decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {}
        self._encoder = msgspec.msgpack.Encoder()
        self._lock = threading.Lock()
        self._pending: set[str] = set()  # marks not yet written (Redis was unreachable)
        self._pending_index = -1
        self._resume_at = 0.0  # monotonic time before which reads pass the cache by
        self._warned = False
        # Told (kind, outcome) of every lookup: the service's metrics, if set.
        self.on_lookup: Callable[[str, str], None] | None = None

    # -- reading ------------------------------------------------------------------

    def _count(self, kind: str, outcome: str) -> None:
        if self.on_lookup is not None:
            self.on_lookup(kind, outcome)

    def _failed(self, what: str, exc: Exception) -> None:
        self._resume_at = time.monotonic() + BACKOFF_SECONDS
        if not self._warned:
            self._warned = True
            log.warning(
                "response cache: Redis unavailable (%s while %s); reading the database", exc, what
            )

    def usable(self) -> bool:
        """False while Redis failed lately or this process owes it marks (retried here)."""
        if time.monotonic() < self._resume_at:
            return False
        return not self._pending or self.mark((), -1)

    def lookup(self, kind: str, ident: str, type_: type[T]) -> T | None:
        """The cached ``kind`` value of ``ident`` if it is still valid, else None."""
        from redis.exceptions import RedisError

        if not self.usable():
            self._count(kind, BYPASS)
            return None
        try:
            found = self._lookup(keys=[self._key(kind, ident)], args=[self.marks])
        except (RedisError, OSError) as exc:
            self._failed("reading", exc)
            self._count(kind, BYPASS)
            return None
        return self._judge(kind, found, type_)

    async def lookup_async(self, kind: str, ident: str, type_: type[T]) -> T | None:
        """``lookup`` in the event loop, without blocking it."""
        if not self.usable():
            self._count(kind, BYPASS)
            return None
        try:
            found = await self.pipe.evalsha(
                self._pipe_lookup, [self._key(kind, ident)], [self.marks]
            )
        except (RedisPipeError, ReplyError, OSError) as exc:
            self._failed("reading", exc)
            self._count(kind, BYPASS)
            return None
        return self._judge(kind, found, type_)

    def _key(self, kind: str, ident: str) -> str:
        return self.values + kind + ":" + ident

    def _judge(self, kind: str, found: list[Any], type_: type[T]) -> T | None:
        """The value of a lookup script's answer, counted; None unless valid."""
        self._warned = False
        if found[0] != 2:
            self._count(kind, STALE if found[0] == 1 else MISS)
            return None
        decoder = self._decoders.get(type_)
        if decoder is None:
            decoder = self._decoders[type_] = msgspec.msgpack.Decoder(type_)
        try:
            value: T = decoder.decode(found[1])
        except msgspec.DecodeError:  # written by another version of the service: read anew
            self._count(kind, MISS)
            return None
        self._count(kind, HIT)
        return value

    def _storable(self, fresh: Fresh[Any], started: float) -> list[Any] | None:
        """The store script's arguments, or None when ``fresh`` is not to be kept."""
        if not fresh.keep or not self.usable() or time.monotonic() - started > MAX_READ_SECONDS:
            return None
        deps = "\n".join((EVERYTHING, *fresh.deps))
        return [fresh.size, deps, self._encoder.encode(fresh.value), self.ttl]

    def store(self, kind: str, ident: str, fresh: Fresh[Any], started: float) -> None:
        """Keep ``fresh`` (read from a snapshot taken after monotonic time ``started``)."""
        from redis.exceptions import RedisError

        args = self._storable(fresh, started)
        if args is None:
            return
        try:
            self._store(keys=[self._key(kind, ident)], args=args)
        except (RedisError, OSError) as exc:
            self._failed("storing", exc)

    async def store_async(self, kind: str, ident: str, fresh: Fresh[Any], started: float) -> None:
        """``store`` in the event loop, without blocking it."""
        args = self._storable(fresh, started)
        if args is None:
            return
        try:
            await self.pipe.evalsha(self._pipe_store, [self._key(kind, ident)], args)
        except (RedisPipeError, ReplyError, OSError) as exc:
            self._failed("storing", exc)

    def fetch(
        self, kind: str, ident: str, type_: type[T], load: Callable[[], Fresh[T] | None]
    ) -> T | None:
        """The cached value, or what ``load`` reads (stored when it returns one)."""
        cached = self.lookup(kind, ident, type_)
        if cached is not None:
            return cached
        started = time.monotonic()
        fresh = load()
        if fresh is None:
            return None
        self.store(kind, ident, fresh, started)
        return fresh.value

    async def fetch_async(
        self, kind: str, ident: str, type_: type[T], load: Callable[[], Fresh[T] | None]
    ) -> T | None:
        """``fetch`` for the event loop: Redis without blocking it, and ``load`` (which
        reads the database) in a worker thread, so that a miss waits for its disk
        without holding up the hits behind it."""
        cached = await self.lookup_async(kind, ident, type_)
        if cached is not None:
            return cached
        started = time.monotonic()
        fresh = await asyncio.to_thread(load)
        if fresh is None:
            return None
        await self.store_async(kind, ident, fresh, started)
        return fresh.value

    # -- invalidating -------------------------------------------------------------

    def mark(self, touched: Iterable[str], index: int) -> bool:
        """Mark ``touched`` changed at ``index`` (with whatever is pending); True when
        Redis has every mark."""
        from redis.exceptions import RedisError

        with self._lock:
            self._pending.update(touched)
            self._pending_index = max(self._pending_index, index)
            if not self._pending:
                return True
            if time.monotonic() < self._resume_at:
                return False  # Redis failed just now: the sequencer does not wait for it
            keys = sorted(self.marks + dep for dep in self._pending)
            try:
                for start in range(0, len(keys), MARK_CHUNK):
                    self._mark(
                        keys=keys[start : start + MARK_CHUNK],
                        args=[self._pending_index, MARK_TTL],
                    )
            except (RedisError, OSError) as exc:
                self._failed("invalidating", exc)
                return False
            self._pending.clear()
            return True

    def invalidator(self) -> Invalidator:
        return Invalidator(self)

    def close(self) -> None:
        self.pipe.close()
        self.client.close()


class Invalidator:
    """The sequencer's listener (ledger.store.entries.CommitListener) that marks what
    each committed batch touched, before its writers are answered."""

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache
        self._touched: set[str] = set()
        self._last = -1

    def written(self, conn: Connection, first: int, entries: Sequence[NewEntry]) -> None:
        self._touched = touched_by(conn, entries)
        self._last = first + len(entries) - 1

    def committed(self) -> None:
        touched, self._touched = self._touched, set()
        try:
            self.cache.mark(touched, self._last)
        except Exception:  # the batch is durable; a failed mark is retried at the next
            log.exception("response cache: marking a committed batch failed")
