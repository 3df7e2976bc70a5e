"""The pipelined Redis client of the per-request calls (lookup_api.redis_pipe)."""

from __future__ import annotations

import asyncio

import pytest

from lookup_api.redis_pipe import Address, RedisPipe, RedisPipeError, ReplyError, encode, parse


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert encode((b"SET", "k", 12)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"


def test_replies_are_read_whole_or_not_at_all() -> None:
    reply = b"*3\r\n:1\r\n$2\r\nab\r\n*2\r\n$-1\r\n+OK\r\n"
    assert parse(reply, 0) == ([1, b"ab", [None, b"OK"]], len(reply))
    for cut in range(len(reply)):
        value, position = parse(reply[:cut], 0)
        assert position == 0 and not isinstance(value, list | int | bytes), cut
    error, _ = parse(b"-NOSCRIPT No matching script\r\n", 0)
    assert isinstance(error, ReplyError) and str(error).startswith("NOSCRIPT")


def test_urls_are_read_as_redis_py_reads_them() -> None:
    assert Address.parse("redis://:s%40cret@cache:6380/3") == Address(
        "cache", 6380, None, 3, None, "s@cret", False
    )
    assert Address.parse("unix:///run/redis.sock?db=2").path == "/run/redis.sock"
    assert Address.parse("rediss://h").tls
    with pytest.raises(ValueError, match="expected redis://"):
        Address.parse("http://h")


def test_concurrent_calls_get_their_own_replies(redis_url: str, redis_prefix: str) -> None:
    async def run() -> list[int]:
        pipe = RedisPipe(redis_url)
        try:
            key = f"{redis_prefix}counter"
            replies = await asyncio.gather(*(pipe.call(b"INCRBY", key, n) for n in range(1, 51)))
            await pipe.call(b"DEL", key)
            return list(replies)
        finally:
            pipe.close()

    replies = asyncio.run(run())
    # Each call's reply is its own: the running totals, in the order the calls were made.
    assert replies == [n * (n + 1) // 2 for n in range(1, 51)]


def test_a_script_redis_does_not_know_is_loaded(redis_url: str, redis_prefix: str) -> None:
    async def run() -> tuple[object, object]:
        pipe = RedisPipe(redis_url)
        # A script of this test's own, so Redis cannot have it cached yet.
        sha = pipe.script(f"return {{KEYS[1], ARGV[1], '{redis_prefix}'}}")
        try:
            first = await pipe.evalsha(sha, ["k"], ["v"])
            again = await pipe.evalsha(sha, ["k"], ["v"])
            return first, again
        finally:
            pipe.close()

    first, again = asyncio.run(run())
    assert first == again == [b"k", b"v", redis_prefix.encode()]


def test_an_error_reply_is_raised(redis_url: str) -> None:
    async def run() -> None:
        pipe = RedisPipe(redis_url)
        try:
            await pipe.call(b"NO-SUCH-COMMAND")
        finally:
            pipe.close()

    with pytest.raises(ReplyError, match="unknown command"):
        asyncio.run(run())


def test_an_unreachable_redis_fails_within_the_timeout() -> None:
    async def run() -> None:
        await RedisPipe("redis://127.0.0.1:1/0", timeout=0.5).call(b"PING")

    with pytest.raises(RedisPipeError, match="cannot connect"):
        asyncio.run(run())


def test_a_connection_is_remade_in_another_event_loop(redis_url: str) -> None:
    pipe = RedisPipe(redis_url)
    assert asyncio.run(pipe.call(b"PING")) == b"PONG"
    assert asyncio.run(pipe.call(b"PING")) == b"PONG"  # the first loop, and its socket, are gone
