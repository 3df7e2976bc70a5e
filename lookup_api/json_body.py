"""Reading a JSON request body strictly, for routes that take one.

Litestar's own body decoding fails with a RecursionError (a 500) on deeply nested input
and accepts any media type; this reader takes ``application/json`` only (else 415),
under the strict reader's limits (nesting, string length, duplicate keys) and converts
to the route's type, each refusal a 400 naming the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.openapi.spec import Operation

from ledger.records.json_input import JsonInputError, loads
from lookup_api.problems import Problem, bad_request, quoted

JSON = "application/json"
T = TypeVar("T")


def media_type_of(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request[Any, Any, Any], kind: type[T], what: str) -> T:
    """The body as ``kind`` (``what`` names it in errors)."""
    media_type = media_type_of(request)
    if media_type != JSON:
        raise Problem(
            415,
            "Unsupported media type",
            f"the body must be {JSON}, got {quoted(media_type) if media_type else 'none'}",
            type_="/problems/unsupported-media-type",
            headers={"Accept-Post": JSON},
        )
    try:
        return msgspec.convert(loads(await request.body()), kind)
    except JsonInputError as exc:
        raise bad_request(str(exc), field="body") from exc
    except msgspec.ValidationError as exc:
        raise bad_request(f"the body is not {what}: {exc}", field="body") from exc


def _inline(node: Any, components: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` to a msgspec component replaced by the component."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(components[ref.removeprefix("#/$defs/")], components)
        return {key: _inline(value, components) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, components) for value in node]
    return node


def request_body_schema(kind: type[Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads a ``kind`` with ``read_json``
    (Litestar cannot see a body the route reads itself)."""
    (ref,), components = msgspec.json.schema_components([kind], ref_template="#/$defs/{name}")
    return {"required": True, "content": {JSON: {"schema": _inline(ref, components)}}}


def body_operation(kind: type[Any]) -> type[Operation]:
    """An ``operation_class`` documenting ``kind`` as the request body."""

    @dataclass
    class BodyOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            schema = super().to_schema()
            schema["requestBody"] = request_body_schema(kind)
            return schema

    return BodyOperation
