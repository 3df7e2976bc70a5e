"""ASGI wrappers around the whole application, outside Litestar's routing."""

from __future__ import annotations

from typing import cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send


def answer_head_as_get(app: ASGIApp) -> ASGIApp:
    """HEAD on every GET route, present and future: the GET answer's status and headers
    (its Content-Length included), without its body. Litestar routes HEAD only to
    handlers that declare it, and answers 405 elsewhere."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return
        as_get = cast("HTTPScope", {**scope, "method": "GET"})

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app(as_get, receive, send_without_body)

    return wrapped
