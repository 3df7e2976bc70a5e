"""RFC 9457 problem details for every error the service returns."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import (
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from ledger.store.service import ServiceClosed
from lookup_api.shared_sequencer import SequencerLost

PROBLEM_JSON = "application/problem+json"
QUOTE_LIMIT = 40  # characters of a refused value an error quotes back
INSTANCE_LIMIT = 100  # characters of the request path a problem's ``instance`` names
log = logging.getLogger("credtrace")


def quoted(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``value`` quoted for an error message: at most ``limit`` characters of it."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def problem_instance(path: str) -> str:
    """A problem's ``instance``: the request path, at most INSTANCE_LIMIT characters of it
    (a long path is the caller's own; echoing it whole only makes the answer long)."""
    return path[:INSTANCE_LIMIT]


class Problem(HTTPException):
    """An error with a stable type URI, a title and a detail that names what is wrong."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.title = title
        self.problem_type = type_
        self.errors = errors or []


class FieldError(msgspec.Struct):
    field: str | None
    message: str | None
    source: str | None = None


class ProblemDetails(msgspec.Struct):
    """RFC 9457 problem details, as every error of the service is answered."""

    type: str
    title: str
    status: int
    detail: str | None
    instance: str
    errors: list[FieldError] | None = None


# What each error status means on this service's routes, for the OpenAPI description.
_MEANING = {
    400: "The request is malformed: the detail and errors name the parameter or field.",
    401: "No API key, or an unknown or revoked one (Authorization: Bearer ct_...).",
    403: "The key's role or enterprise may not do this.",
    404: "No such resource (yet).",
    413: "The body is larger than the service accepts.",
    415: "The body is not application/json.",
    422: "The record is well-formed but refused by a rule of the ledger's current state.",
    429: "Too many requests from this address or key: wait Retry-After seconds.",
    503: (
        "The request took longer than the service's time limit, or the service is stopping "
        "and took nothing from it: retry after Retry-After s."
    ),
}
RATE_LIMITED = 429  # every route but the exempt ones (lookup_api.ratelimit) may answer it
TIMED_OUT = 503  # every route may answer it (lookup_api.middleware.time_limited)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for ``statuses``, 429 and 503, each answered as
    application/problem+json."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            media_type=PROBLEM_JSON,
            description=_MEANING[status],
            generate_examples=False,
        )
        for status in (*statuses, RATE_LIMITED, TIMED_OUT)
    }


def bad_request(detail: str, *, field: str | None = None) -> Problem:
    errors = [{"field": field, "message": detail}] if field else None
    return Problem(400, "Bad request", detail, type_="/problems/bad-request", errors=errors)


def not_found(detail: str) -> Problem:
    return Problem(404, "Not found", detail, type_="/problems/not-found")


def _response(
    request: Request[Any, Any, Any],
    body: dict[str, Any],
    status: int,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body.setdefault("instance", problem_instance(request.url.path))
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _stopping() -> Problem:
    # A write that arrives while the process stops is refused before it is queued: nothing
    # of it is written, so a retry (another worker, or after the restart) is safe.
    return Problem(
        HTTP_503_SERVICE_UNAVAILABLE,
        "Service stopping",
        "the service is stopping and took nothing from this request: retry",
        type_="/problems/stopping",
        headers={"Retry-After": "1"},
    )


def _outcome_unknown() -> Problem:
    # The sequencer process went away after the entry was handed to it: it may have been
    # committed. Not a 503 (that says nothing was written); a retry with the same
    # Idempotency-Key is answered with the first receipt if it was.
    return Problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Outcome unknown",
        "the sequencer went away before answering: the record may be written; "
        "retry with the same Idempotency-Key",
        type_="/problems/outcome-unknown",
    )


def problem_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, ServiceClosed):
        exc = _stopping()
    if isinstance(exc, SequencerLost):
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        exc = _outcome_unknown()
    if isinstance(exc, Problem):
        body: dict[str, Any] = {
            "type": exc.problem_type,
            "title": exc.title,
            "status": exc.status_code,
            "detail": exc.detail,
        }
        if exc.errors:
            body["errors"] = exc.errors
        return _response(request, body, exc.status_code, exc.headers)
    if isinstance(exc, ValidationException):
        errors = [
            {"field": e.get("key"), "source": e.get("source"), "message": e.get("message")}
            for e in (exc.extra if isinstance(exc.extra, list) else [])
        ]
        names = ", ".join(str(e["field"]) for e in errors if e.get("field")) or "the request"
        body = {
            "type": "/problems/validation",
            "title": "Invalid request",
            "status": 400,
            "detail": f"invalid value for {names}",
            "errors": errors,
        }
        return _response(request, body, 400)
    if isinstance(exc, NotFoundException):
        body = {
            "type": "/problems/not-found",
            "title": "Not found",
            "status": 404,
            "detail": exc.detail or "no such resource",
        }
        return _response(request, body, 404)
    if isinstance(exc, HTTPException) and exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        limit = request.route_handler.resolve_request_max_body_size()
        body = {
            "type": "/problems/too-large",
            "title": "Content too large",
            "status": HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "detail": f"the body is larger than the {limit or 0:,} bytes this service takes",
        }
        return _response(request, body, HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, HTTPException):
        body = {
            "type": "about:blank",
            "title": exc.detail or "HTTP error",
            "status": exc.status_code,
            "detail": exc.detail,
        }
        return _response(request, body, exc.status_code, exc.headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {
        "type": "/problems/internal",
        "title": "Internal error",
        "status": HTTP_500_INTERNAL_SERVER_ERROR,
        "detail": "the server failed; it has been logged",
    }
    return _response(request, body, HTTP_500_INTERNAL_SERVER_ERROR)


__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "ProblemDetails",
    "bad_request",
    "not_found",
    "problem_handler",
    "problem_instance",
    "problem_responses",
    "quoted",
]
