"""Reading an HTML form body (``application/x-www-form-urlencoded``) strictly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.openapi.spec import Operation

from lookup_api.pages.answers import refusal
from lookup_api.pages.session import CSRF_FIELD, csrf_valid, same_origin, wants_html
from lookup_api.problems import Problem, bad_request, quoted

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 64
MAX_FORM_BYTES = 256 * 1024


class FormError(Exception):
    """The body is not a form this service reads."""


async def read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The form's fields (a field given twice is refused: which one would count?); no
    body at all is an empty form."""
    body = await request.body()
    if not body:
        return {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise Problem(
            415,
            "Unsupported media type",
            f"the body must be {FORM}, got {quoted(media_type) if media_type else 'none'}",
            type_="/problems/unsupported-media-type",
            headers={"Accept-Post": FORM},
        )
    if len(body) > MAX_FORM_BYTES:
        raise Problem(413, "Payload too large", f"a form is at most {MAX_FORM_BYTES:,} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"the form cannot be read: {str(exc)[:80]}", field="body") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise bad_request(f"the form gives {quoted(name)} twice", field=name[:40])
        fields[name] = value
    return fields


def csrf_refused(request: Request[Any, Any, Any], message: str) -> Exception:
    """403 and nothing written: a refusal page for a browser, problem+json otherwise."""
    if wants_html(request):
        return refusal(request, 403, message)
    return Problem(403, "Forbidden", message, type_="/problems/csrf")


async def read_checked_form(
    request: Request[Any, Any, Any], secret: bytes, session: str | None, public_url: str
) -> dict[str, str]:
    """The form of a POST from this service's own page: its origin is this service and its
    CSRF token is the one issued for ``session``; else 403 before anything is done."""
    if not same_origin(request, public_url):
        raise csrf_refused(request, "the form was not sent from this service's own page")
    fields = await read_form(request)
    if not csrf_valid(secret, session, fields.get(CSRF_FIELD)):
        raise csrf_refused(request, "the form's CSRF token is missing or not valid")
    return fields


def form_operation(fields: dict[str, str]) -> type[Operation]:
    """An ``operation_class`` documenting a page form's text fields as the request body
    (the handler reads the form itself, after the authorisation hook)."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string", "description": d} for name, d in fields.items()},
        "required": sorted(fields),
    }

    @dataclass
    class FormOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            document = super().to_schema()
            document["requestBody"] = {"required": True, "content": {FORM: {"schema": schema}}}
            return document

    return FormOperation
