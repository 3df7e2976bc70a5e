"""ASGI wrappers around the whole application, outside Litestar's routing."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send

from ledger.store.service import REQUEST_WRITES, RequestWrites
from lookup_api.metrics import UNMATCHED, SharedMetrics
from lookup_api.pages.session import LOGIN_PATH, session_token
from lookup_api.problems import PROBLEM_JSON, problem_instance
from lookup_api.ratelimit import (
    EXEMPT_PATHS,
    Decision,
    Limiter,
    RateLimits,
    RatePolicy,
    Take,
    headers_for,
    token_partition,
)

HEAD_AS_GET = "credtrace.head"  # scope key: this GET is a HEAD's (no body is sent)
# Scope key: the key presented was refused, though the answer is not a 401 (a browser sent
# back to sign in), so the rate limiter counts the failure all the same.
KEY_REFUSED = "credtrace.key_refused"


def answer_head_as_get(app: ASGIApp) -> ASGIApp:
    """HEAD on every GET route, present and future: the GET answer's status and headers
    (its Content-Length included), without its body. Litestar routes HEAD only to
    handlers that declare it, and answers 405 elsewhere."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return
        as_get = cast("HTTPScope", {**scope, "method": "GET", HEAD_AS_GET: True})

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app(as_get, receive, send_without_body)

    return wrapped


def client_address(scope: HTTPScope, trusted_proxies: frozenset[str]) -> str:
    """The caller's address: the peer's, or behind a trusted proxy the nearest address
    in ``X-Forwarded-For`` that is not one of the proxies."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
    for written in reversed(forwarded.decode("latin-1").split(",")):
        hop = written.strip()
        if hop and hop not in trusted_proxies:
            return hop[:64]
    return peer


def _header(scope: HTTPScope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _refuse(
    scope: HTTPScope, send: Send, policy: RatePolicy, decision: Decision, who: str
) -> None:

    wait = max(1, math.ceil(decision.retry_after))
    body = json.dumps(
        {
            "type": "/problems/rate-limited",
            "title": "Too many requests",
            "status": 429,
            "detail": (
                f"more than {policy.quota} requests in {policy.window} s from this {who}; "
                f"retry after {wait} s"
            ),
            "instance": problem_instance(scope["path"]),
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"access-control-allow-origin", b"*"),
        *headers_for(policy, decision),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rate_limited(
    app: ASGIApp,
    limits: RateLimits,
    limiter: Callable[[], Limiter | None],
    on_refused: Callable[[str], None] = lambda _policy: None,
) -> ASGIApp:
    """Every HTTP request but EXEMPT_PATHS takes a token from its partition's bucket
    (lookup_api.ratelimit) before anything else reads it; ``limiter`` gives the
    running app's limiter (None before start-up); ``on_refused`` is told the policy of
    every 429."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        current = limiter()
        if (
            scope["type"] != ScopeType.HTTP
            or not limits.enabled
            or current is None
            or scope["path"] in EXEMPT_PATHS
        ):
            await app(scope, receive, send)
            return
        http = scope
        address = client_address(http, limits.trusted_proxies)
        token = token_partition(_header(http, b"authorization"))
        if token is None:  # an officer's page session is a key too, counted as one
            session = session_token(_header(http, b"cookie"))
            token = None if session is None else token_partition(f"Bearer {session}")
        # A key is tried on the login form as on any keyed request: bad ones count.
        tries_key = token is not None or (http["method"] == "POST" and http["path"] == LOGIN_PATH)
        if token is None:
            policy, partition, who = limits.public, address, "address"
        else:
            policy, partition, who = limits.key, token, "key"
        # An address that sent too many bad keys is refused before its key counts; both
        # buckets in one round trip.
        takes: list[Take] = [(address, limits.auth_failures, 0)] if tries_key else []
        decisions = await current.take_all([*takes, (partition, policy, 1)])
        if tries_key and not decisions[0].allowed:
            on_refused(limits.auth_failures.name)
            await _refuse(http, send, limits.auth_failures, decisions[0], "address with bad keys")
            return
        decision = decisions[-1]
        if not decision.allowed:
            on_refused(policy.name)
            await _refuse(http, send, policy, decision, who)
            return
        extra = headers_for(policy, decision)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
                if tries_key and (message["status"] == 401 or scope.get(KEY_REFUSED)):
                    await current.take(address, limits.auth_failures)
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


# nginx's status for a client that closed its connection before it was answered: the
# answer (Litestar's 500 for a body cut short, say) reached nobody and was no server error.
CLIENT_CLOSED = 499


def measured(
    app: ASGIApp, metrics: Callable[[], SharedMetrics | None], access: logging.Logger
) -> ASGIApp:
    """Time every HTTP request into the running app's metrics, by route template (the
    path for no route: one ``unmatched`` label), and log one access line for it, with no
    query string and no header. A client gone before its answer began is CLIENT_CLOSED."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        shared = metrics()
        if scope["type"] != ScopeType.HTTP or shared is None:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        gone = answered = False

        async def receive_noting_disconnect() -> ReceiveMessage:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect":
                gone = True
            return message

        async def send_status(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = not gone
            await send(message)

        try:
            await app(scope, receive_noting_disconnect, send_status)
        finally:
            if gone and not answered:
                status = CLIENT_CLOSED
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED
            shared.metrics.observe_request(route, scope["method"], status, seconds)
            access.info(
                "%s %s %d",
                scope["method"],
                scope["path"][:200],
                status,
                extra={
                    "method": scope["method"],
                    "route": route,
                    "path": scope["path"][:200],
                    "status": status,
                    "ms": round(seconds * 1000, 3),
                },
            )

    return wrapped


RETRY_AFTER_TIMEOUT = 1  # seconds a client is told to wait after a 503 for a timeout
# Answers that are long to draw by design (up to 5,000 codes' PNG and SVG images: 10 s
# at the images' target of 500 codes/s, scripts/bench codes) get this many times the limit.
SLOW_PATHS = re.compile(r"/v1/codes/batches/\d+/images\.zip")
SLOW_FACTOR = 10


def time_limited(app: ASGIApp, seconds: float | None, log: logging.Logger) -> ASGIApp:
    """Answer 503 problem+json with ``Retry-After`` to an HTTP request that has not begun
    its answer within ``seconds`` (None: no limit; SLOW_PATHS: SLOW_FACTOR times it), a
    slow client's body included.

    A timer of the loop gives the request up: its task is cancelled where it waits (a
    sync handler's thread cannot be interrupted, so the answer does not wait for it) and
    whatever the request sends afterwards is dropped. Its appends are counted
    (``ledger.store.service.RequestWrites``): a request is given up only while none of
    them is taken by the sequencer, and then none is ever written; once one is, the
    request is waited for and its answer, late, acknowledges the write. An answer already
    begun is left to finish. (A timer, not a task of its own per request with
    ``asyncio.wait``: that cost a tenth of a cached read's answer.)
    """
    if not seconds:
        return app

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        limit = seconds * SLOW_FACTOR if SLOW_PATHS.fullmatch(scope["path"]) else seconds
        started = abandoned = False

        async def send_unless_abandoned(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        writes = RequestWrites()
        task = asyncio.current_task()
        assert task is not None  # an ASGI call runs in a task

        def give_up() -> None:
            nonlocal abandoned
            if started or not writes.abandon():
                return  # answered, or an append is being committed: waited for
            abandoned = True
            task.cancel()

        token = REQUEST_WRITES.set(writes)  # a handler's thread inherits ``writes``
        timer = asyncio.get_running_loop().call_later(limit, give_up)
        try:
            await app(scope, receive, send_unless_abandoned)
        except asyncio.CancelledError:
            if not abandoned:
                raise
        finally:
            timer.cancel()
            REQUEST_WRITES.reset(token)
        if not abandoned:
            return
        if task.uncancel() > 0:  # ours is taken back; another (the server's) goes on
            raise asyncio.CancelledError
        log.warning("%s %s timed out after %s s", scope["method"], scope["path"][:200], limit)
        body = json.dumps(
            {
                "type": "/problems/timeout",
                "title": "Service unavailable",
                "status": 503,
                "detail": (
                    f"the request took longer than {limit:g} s and nothing it sent was "
                    f"recorded; retry after {RETRY_AFTER_TIMEOUT} s (with the same "
                    "Idempotency-Key, a retry is never recorded twice)"
                ),
                "instance": problem_instance(scope["path"]),
            }
        ).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_TIMEOUT).encode()),
            (b"access-control-allow-origin", b"*"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return wrapped
