"""A lean asyncio Redis client for the per-request calls: one pipelined connection.

Every request takes a rate-limit token (``lookup_api.ratelimit``) and most public reads
look up the response cache (``lookup_api.cache``): one Redis call each. redis-py's
client spends more time in Python on such a call (connection pool, retry, command
packing, parser objects) than Redis spends running it, and the cost is paid on every
request. This client keeps one connection per process and event loop, writes the commands
of all the requests in flight in one write per turn of the loop, and reads the replies
in order (Redis answers a connection's commands in the order it sent them), so N
concurrent calls share one system call each way.

Scripts are run by their SHA-1 (``EVALSHA``), loaded with ``EVAL`` the first time Redis
does not know them. Each script is still atomic in Redis: pipelining only saves round
trips, it does not interleave two scripts.

URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) and
``unix://[[user]:password@]/path[?db=N]``, as redis-py reads them.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Reply = Any  # bytes, int, None, a list of replies, or a ReplyError


class RedisPipeError(ConnectionError):
    """Redis could not be reached, the connection dropped, or it did not answer in time."""


class ReplyError(Exception):
    """An error reply from Redis (``-ERR …``, ``-NOSCRIPT …``)."""


@dataclass(frozen=True)
class Address:
    host: str | None
    port: int
    path: str | None  # a Unix socket
    db: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Address:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "a Redis URL: expected redis://, rediss:// or unix://, "
                f"got {parts.scheme[:20]!r}://"
            )
        query = parse_qs(parts.query)
        db_text = query.get("db", [""])[0]
        if parts.scheme != "unix" and parts.path.strip("/"):
            db_text = parts.path.strip("/")
        if db_text and not db_text.isdigit():
            raise ValueError(f"a Redis URL's database: expected a number, got {db_text[:20]!r}")
        return cls(
            host=None if parts.scheme == "unix" else parts.hostname or "localhost",
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            db=int(db_text or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )


def encode(args: tuple[bytes | str | int | float, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


_INCOMPLETE = object()


def parse(buffer: bytes | bytearray, position: int) -> tuple[Reply, int]:
    """One RESP2 reply at ``position``: (reply, the position after it), or
    (_INCOMPLETE, position) when the buffer does not hold all of it yet."""
    end = buffer.find(b"\r\n", position)
    if end < 0:
        return _INCOMPLETE, position
    kind, line = buffer[position : position + 1], bytes(buffer[position + 1 : end])
    if kind == b"$":
        return _bulk(buffer, position, int(line), end + 2)
    if kind == b"*":
        return _array(buffer, position, int(line), end + 2)
    simple = _SIMPLE.get(bytes(kind))
    if simple is None:
        raise RedisPipeError(f"a Redis reply: expected one of $:+-*, got {bytes(kind)!r}")
    return simple(line), end + 2


_SIMPLE: dict[bytes, Callable[[bytes], Reply]] = {
    b":": int,
    b"+": lambda line: line,
    b"-": lambda line: ReplyError(line.decode(errors="replace")),
}


def _bulk(buffer: bytes | bytearray, position: int, length: int, after: int) -> tuple[Reply, int]:
    if length < 0:
        return None, after
    if len(buffer) < after + length + 2:
        return _INCOMPLETE, position
    return bytes(buffer[after : after + length]), after + length + 2


def _array(buffer: bytes | bytearray, position: int, count: int, after: int) -> tuple[Reply, int]:
    if count < 0:
        return None, after
    items = []
    for _ in range(count):
        item, after = parse(buffer, after)
        if item is _INCOMPLETE:
            return _INCOMPLETE, position
        items.append(item)
    return items, after


class _Connection(asyncio.Protocol):
    """One connection: commands out in order, replies matched to their waiters in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.buffer = bytearray()
        self.outgoing: list[bytes] = []
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        try:
            while self.waiting:
                reply, position_after = parse(buffer, position)
                if reply is _INCOMPLETE:
                    break
                position = position_after
                waiter = self.waiting.popleft()
                if not waiter.done():  # one that timed out has gone: its reply is dropped
                    waiter.set_result(reply)
        except (ValueError, RedisPipeError) as exc:
            self.fail(RedisPipeError(f"an unreadable Redis reply: {exc}"))
            return
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisPipeError(f"the Redis connection was lost: {exc or 'closed'}"))

    def fail(self, exc: Exception) -> None:
        self.lost = exc
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def send(self, command: bytes, waiter: asyncio.Future[Reply]) -> None:
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(command)
        self.waiting.append(waiter)

    def flush(self) -> None:
        if self.outgoing and self.transport is not None and self.lost is None:
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()


class RedisPipe:
    """Calls to one Redis over one pipelined connection, made in the first call's event
    loop, and again after it drops or in another loop (a connection belongs to one);
    each call waits ``timeout`` seconds at most."""

    def __init__(self, url: str, timeout: float = 0.5) -> None:
        self.address = Address.parse(url)
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the connection's
        self._connecting: asyncio.Future[_Connection] | None = None
        self._scripts: dict[bytes, bytes] = {}  # SHA-1 hex -> the script

    def script(self, source: str) -> bytes:
        """Register a Lua script; returns the SHA-1 that ``evalsha`` takes."""
        body = source.encode()
        sha = hashlib.sha1(body, usedforsecurity=False).hexdigest().encode()
        self._scripts[sha] = body
        return sha

    async def call(self, *args: bytes | str | int | float) -> Reply:
        """One command's reply; an error reply is raised as ReplyError."""
        loop = asyncio.get_running_loop()
        connection = self._connection
        if connection is None or connection.lost is not None or loop is not self._loop:
            connection = await self._connect()
        waiter: asyncio.Future[Reply] = loop.create_future()
        connection.send(encode(args), waiter)
        timer = loop.call_later(self.timeout, _expire, waiter, self.timeout)
        try:
            reply = await waiter
        finally:
            timer.cancel()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def evalsha(
        self, sha: bytes, keys: list[str], args: list[bytes | str | int | float]
    ) -> Reply:
        """Run a registered script, loading it when Redis does not have it."""
        try:
            return await self.call(b"EVALSHA", sha, len(keys), *keys, *args)
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self.call(b"EVAL", self._scripts[sha], len(keys), *keys, *args)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._connecting is not None and self._loop is loop:
            # Another call is connecting: share its connection.
            return await asyncio.shield(self._connecting)
        self._loop = loop
        self._connecting = loop.create_future()
        try:
            connection = await asyncio.wait_for(self._open(), self.timeout)
        except Exception as exc:
            error = RedisPipeError(f"cannot connect to Redis: {exc or type(exc).__name__}")
            self._connecting.set_exception(error)
            self._connecting.exception()  # retrieved: no "never retrieved" warning
            self._connecting = None
            raise error from exc
        self._connection = connection
        self._connecting.set_result(connection)
        self._connecting = None
        return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        address = self.address
        if address.path is not None:
            _, connection = await loop.create_unix_connection(_Connection, address.path)
        else:
            assert address.host is not None
            _, connection = await loop.create_connection(
                _Connection,
                address.host,
                address.port,
                ssl=ssl.create_default_context() if address.tls else None,
            )
        hello: list[tuple[bytes | str | int, ...]] = []
        if address.password is not None:
            hello.append(
                (b"AUTH", address.username, address.password)
                if address.username
                else (b"AUTH", address.password)
            )
        if address.db:
            hello.append((b"SELECT", address.db))
        for command in hello:
            waiter: asyncio.Future[Reply] = loop.create_future()
            connection.send(encode(command), waiter)
            reply = await waiter
            if isinstance(reply, ReplyError):
                connection.fail(RedisPipeError(f"Redis refused {command[0]!r}: {reply}"))
                raise reply
        return connection

    def close(self) -> None:
        """Close the connection, from its loop or any other thread."""
        connection, self._connection = self._connection, None
        loop = self._loop
        if connection is None or connection.transport is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            connection.flush()
            connection.transport.close()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(connection.transport.close)


def _expire(waiter: asyncio.Future[Reply], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(RedisPipeError(f"Redis did not answer within {timeout:g} s"))
