"""Rate limiting: token buckets per client, atomic across worker processes.

A bucket holds at most ``quota`` tokens and refills ``quota`` per ``window`` seconds,
continuously; a request takes one token or is refused (429) with how long until the next
one. With Redis every worker shares each bucket through one Lua script, run atomically by
Redis on Redis's own clock, so that N workers admit no more than one does; without Redis a
bucket lives in each process (a single-process server then limits exactly, several
processes each by themselves).

Partitions: a request without a key is counted against its client address (``public``);
a request with a key against that key (``key``). A token is counted by its hash, since it
is not yet checked here: so that a caller cannot spend a stranger's quota by naming the
stranger's key id, nor dodge its own by inventing tokens, every answer 401 also takes a
token from the address's ``auth_failures`` bucket, and an address whose bucket is empty is
refused before its key is looked at.

Headers (draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Policy: "public";q=300;w=60``
and ``RateLimit: "public";r=299;t=1`` on every limited answer, ``Retry-After`` on a 429.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.store.config import BadSetting
from lookup_api.redis_pipe import RedisPipe, RedisPipeError, ReplyError

log = logging.getLogger("credtrace")

EXEMPT_PATHS = frozenset({"/health"})  # liveness probes must never be refused
LOCAL_BUCKETS = 100_000  # buckets one process keeps; the least recently used go first
REDIS_TIMEOUT = 0.5  # seconds a request waits for Redis's decision at most
BACKOFF_SECONDS = 1.0  # after a Redis failure, count in-process this long before trying again


class RateLimitConfigError(BadSetting):
    """A rate limit setting that cannot be read; the message names it."""


@dataclass(frozen=True)
class RatePolicy:
    """``quota`` requests per ``window`` seconds, as a bucket of ``quota`` tokens."""

    name: str
    quota: int
    window: int

    def __post_init__(self) -> None:
        if self.quota < 1 or self.window < 1:
            raise RateLimitConfigError(
                f"rate limit {self.name!r}",
                "at least 1 request per at least 1 s",
                f"{self.quota}/{self.window}",
            )

    @classmethod
    def parse(cls, name: str, text: str, variable: str | None = None) -> RatePolicy:
        """``"300/60"``: 300 requests per 60 seconds; ``variable`` names the setting in
        an error (else the policy's name does)."""
        label = variable or f"rate limit {name!r}"
        quota, slash, window = text.partition("/")
        if not (slash and quota.isascii() and quota.isdigit() and window.isascii()):
            raise RateLimitConfigError(label, "REQUESTS/SECONDS such as 300/60", text)
        if not window.isdigit():
            raise RateLimitConfigError(label, "SECONDS as a whole number", window)
        if int(quota) < 1 or int(window) < 1:
            raise RateLimitConfigError(label, "at least 1 request per at least 1 s", text)
        return cls(name, int(quota), int(window))

    @property
    def header(self) -> str:
        return f'"{self.name}";q={self.quota};w={self.window}'


@dataclass(frozen=True)
class RateLimits:
    """The policies of the service (settings; see README "Configuration")."""

    public: RatePolicy = RatePolicy("public", 300, 60)
    key: RatePolicy = RatePolicy("key", 1200, 60)
    auth_failures: RatePolicy = RatePolicy("auth_failures", 20, 60)
    enabled: bool = True
    # Proxies whose X-Forwarded-For is believed (their own addresses); none by default.
    trusted_proxies: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        """CREDTRACE_RATE_PUBLIC / _KEY / _AUTH_FAILURES (``REQUESTS/SECONDS``),
        CREDTRACE_RATE_LIMITS=off, CREDTRACE_TRUSTED_PROXIES (comma-separated)."""
        default = cls()
        switch = env.get("CREDTRACE_RATE_LIMITS", "on").strip().lower()
        if switch not in ("on", "off"):
            raise RateLimitConfigError("CREDTRACE_RATE_LIMITS", "on or off", switch)

        def policy(name: str, variable: str, fallback: RatePolicy) -> RatePolicy:
            text = env.get(variable, "").strip()
            return RatePolicy.parse(name, text, variable) if text else fallback

        proxies = env.get("CREDTRACE_TRUSTED_PROXIES", "")
        return cls(
            public=policy("public", "CREDTRACE_RATE_PUBLIC", default.public),
            key=policy("key", "CREDTRACE_RATE_KEY", default.key),
            auth_failures=policy(
                "auth_failures", "CREDTRACE_RATE_AUTH_FAILURES", default.auth_failures
            ),
            enabled=switch == "on",
            trusted_proxies=frozenset(
                _address("CREDTRACE_TRUSTED_PROXIES", p.strip())
                for p in proxies.split(",")
                if p.strip()
            ),
        )


def _address(variable: str, text: str) -> str:
    """``text`` if it is an IP address (what a peer's address is compared with)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise BadSetting(variable, "IP addresses separated by commas", text) from None
    return text


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left after this request
    retry_after: float  # seconds until a token is there (0 when allowed)
    full_after: float  # seconds until the bucket is full again


def decide(tokens: float, quota: int, window: int, cost: int) -> tuple[float, Decision]:
    """Take ``cost`` tokens from a bucket holding ``tokens`` (already refilled to now).

    Returns the tokens left and the decision; a ``cost`` of 0 only looks.
    """
    rate = quota / window
    allowed = tokens >= cost if cost else tokens >= 1
    left = tokens - cost if allowed else tokens
    retry = 0.0 if allowed else (max(cost, 1) - tokens) / rate
    return left, Decision(allowed, int(left), retry, (quota - left) / rate)


def refill(tokens: float, elapsed: float, quota: int, window: int) -> float:
    return min(float(quota), tokens + max(0.0, elapsed) * quota / window)


Take = tuple[str, "RatePolicy", int]  # (partition, policy, cost)


class Limiter(Protocol):
    async def take(self, partition: str, policy: RatePolicy, cost: int = 1) -> Decision: ...

    async def take_all(self, takes: Sequence[Take]) -> list[Decision]:
        """Take from several buckets in order, stopping at the first refusal (its decision
        is the last one returned): a keyed request's two buckets in one round trip."""
        ...


class LocalLimiter:
    """Buckets in this process, for a server without Redis (and as the fallback)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, capacity: int = LOCAL_BUCKETS
    ) -> None:
        self._clock = clock
        self._capacity = capacity
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    async def take(self, partition: str, policy: RatePolicy, cost: int = 1) -> Decision:
        return self.take_now(partition, policy, cost)

    async def take_all(self, takes: Sequence[Take]) -> list[Decision]:
        return self.take_all_now(takes)

    def take_all_now(self, takes: Sequence[Take]) -> list[Decision]:
        decisions = []
        for partition, policy, cost in takes:
            decisions.append(self.take_now(partition, policy, cost))
            if not decisions[-1].allowed:
                break
        return decisions

    def take_now(self, partition: str, policy: RatePolicy, cost: int = 1) -> Decision:
        key = f"{policy.name}:{partition}"
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.pop(key, (float(policy.quota), now))
            tokens = refill(tokens, now - then, policy.quota, policy.window)
            tokens, decision = decide(tokens, policy.quota, policy.window, cost)
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._capacity:
                self._buckets.popitem(last=False)
        return decision


# KEYS the buckets; ARGV quota, window (s) and cost of each in turn. Redis's clock, so that
# the workers' clocks need not agree; a bucket expires once it would be full again anyway.
# Stops at the first bucket that refuses; returns {allowed, tokens} of each bucket taken.
BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i, key in ipairs(KEYS) do
  local quota = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or quota
  local at = tonumber(state[2]) or now
  local rate = quota / window
  tokens = math.min(quota, tokens + math.max(0, now - at) * rate)
  local allowed = 0
  if (cost > 0 and tokens >= cost) or (cost == 0 and tokens >= 1) then
    allowed = 1
    tokens = tokens - cost
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
  table.insert(out, allowed)
  table.insert(out, tostring(tokens))
  if allowed == 0 then break end
end
return out
"""


class RedisLimiter:
    """Buckets in Redis, shared by every worker, through one pipelined connection
    (lookup_api.redis_pipe); falls back to this process's buckets (with one warning)
    while Redis cannot be reached, trying it again every BACKOFF_SECONDS."""

    def __init__(
        self, url: str, prefix: str = "credtrace:", fallback: LocalLimiter | None = None
    ) -> None:
        self._prefix = f"{prefix}rl:"
        # Every request makes this call: the lean pipelined client, not redis-py's.
        self._redis = RedisPipe(url, REDIS_TIMEOUT)
        self._script = self._redis.script(BUCKET_SCRIPT)
        self._fallback = fallback or LocalLimiter()
        self._warned = False
        self._resume_at = 0.0  # monotonic time before which the buckets are this process's

    async def take(self, partition: str, policy: RatePolicy, cost: int = 1) -> Decision:
        return (await self.take_all([(partition, policy, cost)]))[0]

    async def take_all(self, takes: Sequence[Take]) -> list[Decision]:
        if time.monotonic() < self._resume_at:
            return self._fallback.take_all_now(takes)
        keys = [f"{self._prefix}{policy.name}:{partition}" for partition, policy, _ in takes]
        args: list[bytes | str | int | float] = [
            n for _, policy, cost in takes for n in (policy.quota, policy.window, cost)
        ]
        try:
            answer = await self._redis.evalsha(self._script, keys, args)
        except (RedisPipeError, ReplyError, OSError) as exc:
            self._resume_at = time.monotonic() + BACKOFF_SECONDS
            if not self._warned:
                self._warned = True
                log.warning("rate limits: Redis unavailable (%s); counting in-process", exc)
            return self._fallback.take_all_now(takes)
        self._warned = False
        decisions = []
        for (_, policy, cost), allowed, tokens in zip(
            takes, answer[::2], answer[1::2], strict=False
        ):
            left = float(tokens)
            rate = policy.quota / policy.window
            retry = 0.0 if allowed else (max(cost, 1) - left) / rate
            decisions.append(
                Decision(bool(allowed), int(left), retry, (policy.quota - left) / rate)
            )
        return decisions

    async def close(self) -> None:
        self._redis.close()


def token_partition(authorization: str) -> str | None:
    """The partition of a request's bearer token (its hash), or None without one."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hashlib.sha256(token.strip().encode()).hexdigest()[:32]


def headers_for(policy: RatePolicy, decision: Decision) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"ratelimit-policy", policy.header.encode()),
        (
            b"ratelimit",
            f'"{policy.name}";r={decision.remaining};t={math.ceil(decision.full_after)}'.encode(),
        ),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode()))
    return headers
