"""Routes for cross-border e-commerce platforms.

``POST /v1/verify/filings`` (platform or officer key): up to 1,000 ``{uscc, gtin?,
batch?}`` items, each answered (filed, status, grade, blacklist, product, recall) or given
its own error, with the tree size the whole answer is true at.

``GET /v1/feed?after=INDEX&limit=N`` (public): the entries after ``INDEX`` in ledger
order with their public payloads (``withheld`` as on the ledger routes) and the cursor
to pass next; an ``ETag`` per page answers a repeated poll with 304.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from credit.catalogue import load_policy
from ledger.store.engine import read_transaction
from lookup_api.authorization import required_key
from lookup_api.cache import Fresh, enterprise_dep
from lookup_api.dependencies import ServicesDep
from lookup_api.json_body import body_operation, read_json
from lookup_api.params import (
    SMALLEST_TREE,
    OptionalIndexQuery,
    parse_optional_decimal,
)
from lookup_api.problems import bad_request, problem_responses
from lookup_api.routes.ledger.disclosure import today_in_china
from lookup_api.routes.platform.service import (
    FeedPage,
    Finding,
    Query,
    feed_page,
    feed_version,
    find,
    tree_size,
)
from lookup_api.wiring import Services

MAX_ITEMS = 1000
MAX_FEED_PAGE = 1000
DEFAULT_FEED_PAGE = 100
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


LimitQuery = Annotated[
    str | None,
    QueryParameter(
        description=f"changes per page, 1 to {MAX_FEED_PAGE} (default {DEFAULT_FEED_PAGE})",
        # Text parsed in one spelling (lookup_api.params), documented as the integer it is.
        schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_FEED_PAGE, "oneOf": None},
    ),
]


class FilingQuery(msgspec.Struct, forbid_unknown_fields=True):
    uscc: Identifier
    gtin: Identifier | None = None
    batch: Identifier | None = None


class FilingsRequest(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[FilingQuery], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]


class ItemProblem(msgspec.Struct):
    field: str
    message: str


class FilingAnswer(msgspec.Struct):
    uscc: str  # normalised (as given, when it is malformed)
    gtin: str | None
    batch: str | None
    error: ItemProblem | None  # a malformed identifier: the rest of the item is unanswered
    filed: bool
    status: str | None  # active, revoked
    grade: str | None
    blacklist: str | None  # none, listed (noticed: to an officer only, due process)
    blacklisted: bool
    product_filed: bool | None  # null: no gtin asked
    product_status: str | None
    product_owner: str | None
    batch_declared: bool | None  # null: no batch asked
    active_recall: bool | None  # an open recall of the product (covering the batch, if asked)
    recall_entries: list[int]
    entries: list[int]  # the ledger entries behind the answer


class FilingsAnswer(msgspec.Struct):
    tree_size: int
    items: list[FilingAnswer]


class FeedChange(msgspec.Struct):
    index: int
    kind: str
    subject: str
    time: str
    payload: Any  # the public payload; null when withheld or redacted
    withheld: bool
    withheld_reason: str | None
    redacted: bool


class FeedPageView(msgspec.Struct):
    after: int | None
    tree_size: int
    changes: list[FeedChange]
    next_after: int | None  # pass as ``after`` for the next page
    more: bool  # whether more changes are already there


def _answer(found: Finding) -> FilingAnswer:
    error = None if found.error is None else ItemProblem(found.error_field or "", found.error)
    return FilingAnswer(
        uscc=found.uscc,
        gtin=found.gtin,
        batch=found.batch,
        error=error,
        filed=found.filed,
        status=found.status,
        grade=found.grade,
        blacklist=found.blacklist,
        blacklisted=found.blacklisted,
        product_filed=found.product_filed,
        product_status=found.product_status,
        product_owner=found.product_owner,
        batch_declared=found.batch_declared,
        active_recall=found.active_recall,
        recall_entries=found.recall_entries,
        entries=found.entries,
    )


def _verify(services: Services, queries: list[Query], notices: bool) -> FilingsAnswer:
    with read_transaction(services.engine) as conn:
        # first: its pipeline carries the BEGIN
        findings = find(conn, queries, notices=notices)
        size = tree_size(services.ledger, conn)  # the same snapshot
    return FilingsAnswer(size, [_answer(f) for f in findings])


class RenderedChanges(msgspec.Struct):
    """A feed page's changes as JSON, and its next cursor: what the cache keeps."""

    changes: bytes
    next_after: int | None


def _rendered(page: FeedPage, size: int) -> Fresh[RenderedChanges]:
    """A page's changes encoded, with what they depend on besides the log's entries: the
    state that decides a payload's disclosure (a violation's revocation, an enterprise's
    blacklist removal: entries on the enterprise), so every subject and USCC named."""
    changes = [
        FeedChange(
            index=s.entry.index,
            kind=s.envelope.kind,
            subject=s.envelope.subject,
            time=s.envelope.time,
            payload=s.payload,
            withheld=s.withheld is not None,
            withheld_reason=s.withheld,
            redacted=s.entry.redacted,
        )
        for s in page.changes
    ]
    deps = {s.envelope.subject for s in page.changes}
    for shown in page.changes:
        named = shown.payload.get("uscc") if isinstance(shown.payload, dict) else None
        if isinstance(named, str):
            deps.add(enterprise_dep(named))
    rendered = RenderedChanges(msgspec.json.encode(changes), page.next_after)
    return Fresh(rendered, size, tuple(sorted(deps)))


def _full(after: int | None, limit: int, size: int) -> bool:
    """A full page changes only when a redaction or a closing disclosure window does;
    the tail grows with every append."""
    return (0 if after is None else after + 1) + limit <= size


def _matches(request: Request[Any, Any, Any], etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in wanted.split(","))


class PlatformController(Controller):
    tags = ["platform"]  # noqa: RUF012

    @post(
        "/v1/verify/filings",
        status_code=200,
        summary="Verify up to 1,000 enterprises, products and batches at once (platform, officer)",
        operation_class=body_operation(FilingsRequest),
        responses=problem_responses(400, 401, 403, 413, 415),
        security=[{"bearer": []}],
    )
    async def verify_filings(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[FilingsAnswer]:
        data = await read_json(request, FilingsRequest, "a filings request")
        queries = [Query(i.uscc, i.gtin, i.batch) for i in data.items]
        # A blacklist notice is due process, not a listing: officers see it, platforms
        # the public standing (credit.disclosure).
        notices = required_key(request).role == "officer"
        body = await asyncio.to_thread(_verify, services, queries, notices)
        return Response(body, headers={"Cache-Control": "no-store"})

    # In the event loop, not a worker thread: the size is one indexed statement, the
    # cached page a Redis call made without blocking the loop; only a page read from the
    # database (a miss, the tail) goes to a thread. A thread per poll cost more than all
    # the rest of a cached page's answer.
    @get(
        "/v1/feed",
        summary="Public changes in ledger order, after a cursor (ETag: 304 when unchanged)",
        responses={
            200: ResponseSpec(
                FeedPageView, description="A page of changes", generate_examples=False
            ),
            304: ResponseSpec(
                None, description="Not modified: the page is the one of the ETag given"
            ),
            **problem_responses(400),
        },
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        after: OptionalIndexQuery = None,
        limit: LimitQuery = None,
    ) -> Response[Any]:  # a FeedPageView, or an empty 304 (both stated in ``responses``)
        cursor = parse_optional_decimal(after, "after")
        count = parse_optional_decimal(limit, "limit", minimum=SMALLEST_TREE) or DEFAULT_FEED_PAGE
        if count > MAX_FEED_PAGE:
            raise bad_request(f"limit must be at most {MAX_FEED_PAGE}, got {count}", field="limit")
        day, policy = today_in_china(), load_policy()
        # One statement; entries below it never change but by a redaction, which the
        # page read after it shows (and which keeps that page out of the cache).
        size = services.ledger.size()
        etag = feed_version(cursor, count, size, day, policy)
        full = _full(cursor, count, size)
        cache = "public, max-age=60" if full else "public, max-age=2"
        headers = {"ETag": etag, "Cache-Control": cache}
        # A poll that already has this page costs one read (the checkpoint's size).
        if _matches(request, etag):
            return Response(b"", status_code=304, headers=headers)

        def read() -> Fresh[RenderedChanges]:
            with read_transaction(services.engine) as conn:
                page = feed_page(
                    services.ledger, conn, cursor, count, size=size, day=day, policy=policy
                )
            return _rendered(page, size)

        if full and services.cache is not None:
            # A full page is the same for every size (lookup_api.cache invalidates it).
            ident = f"{cursor}|{count}|{day.isoformat()}|{policy.id}|{policy.version}"
            found = await services.cache.fetch_async("feed", ident, RenderedChanges, read)
            assert found is not None  # read() always finds one
        else:
            found = (await asyncio.to_thread(read)).value
        nxt = found.next_after
        more = (0 if nxt is None else nxt + 1) < size
        # The changes are spliced in as they were encoded (msgspec.Raw): a cached page is
        # not decoded and encoded again.
        changes = cast("list[FeedChange]", msgspec.Raw(found.changes))
        view = FeedPageView(cursor, size, changes, nxt, more)
        return Response(view, headers=headers)
