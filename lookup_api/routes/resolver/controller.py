"""The GS1-Conformant resolver: ``/01/{gtin}[/22/{variant}][/10/{batch}][/21/{serial}]``.

- a malformed path (``/01`` without a GTIN too) is 400 problem+json, an unfiled GTIN 404,
  an unknown batch or serial walks up to the known level and says so;
- ``?linkType=linkset`` (or ``all``), or an Accept header that prefers
  ``application/linkset+json``: the RFC 9264 linkset; ``?linkType=gs1:<type>``: a
  redirect to that link; any other link type 404;
- an Accept header that prefers ``application/json``: the facts as JSON (200);
- otherwise a redirect (307, absolute ``Location``, query string passed on) to the one
  ``gs1:defaultLink``, the consumer page; Accept is weighed with its q-values
  (``lookup_api.negotiation``), so ``application/json;q=0`` never gets JSON;
- every link (linkset, Link header, Location, the page's) is built from the configured
  public URL (``CREDTRACE_PUBLIC_URL``), never from the request's Host header, so that a
  forged Host cannot put another host into an answer that a cache keeps;
- every answer carries ``Link: <…?linkType=linkset>; rel="linkset"``; OPTIONS is answered
  before the framework's CORS middleware could answer it without that header
  (``resolver_preflight``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.enums import ScopeType
from litestar.params import PathParameter, QueryParameter
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from ledger.tlog.envelope import now_time
from lookup_api.dependencies import ServicesDep
from lookup_api.middleware import HEAD_AS_GET
from lookup_api.negotiation import preferred_media_type
from lookup_api.pages.i18n import other_language, pick_language
from lookup_api.problems import Problem, bad_request, problem_responses
from lookup_api.routes.resolver.facts import facts
from lookup_api.routes.resolver.page import PageFacts, render
from lookup_api.routes.resolver.scans import count as count_scan
from lookup_api.routes.resolver.service import (
    DEFAULT_LINK,
    GS1_VOC,
    LINK_TYPES,
    LINKSET_TYPES,
    PAGE_PREFIX,
    Resolution,
    link_type,
    links,
    linkset,
    resolve,
    resolve_async,
)
from lookup_api.wiring import Services
from qr.links import DigitalLink, LinkError, parse_path
from qr.scans import ScanCount

LINKSET_JSON = "application/linkset+json"
JSON = "application/json"
HTML = "text/html"
# What the resolver answers in, the default first: a browser's text/html (or */*) gets
# the redirect to the consumer page; ties between these go in this order.
REPRESENTATIONS = (HTML, JSON, LINKSET_JSON)
ALLOWED = "GET, HEAD, OPTIONS"
EXPOSED = "Link, Location, Content-Type"
RESOLVER_PREFIXES = ("/01/", "/01", "/.well-known/gs1resolver")


RestPath = Annotated[str, PathParameter(description="The rest of the Digital Link path")]


def linkset_header(base: str, link: DigitalLink) -> str:
    return f'<{base}{link.path()}?linkType=linkset>; rel="linkset"; type="{LINKSET_JSON}"'


def _representation(request: Request[Any, Any, Any]) -> str:
    """The representation the Accept header prefers; the redirect when it accepts none."""
    return preferred_media_type(request.headers.get("accept"), REPRESENTATIONS) or HTML


def _link(path: str) -> DigitalLink:
    try:
        return parse_path(path)
    except LinkError as exc:
        raise bad_request(f"malformed GS1 Digital Link path: {exc}", field=exc.field) from exc


def _found(link: DigitalLink, found: Resolution | None, headers: dict[str, str]) -> Resolution:
    if found is None:
        raise Problem(
            404,
            "Not found",
            f"no product with GTIN {link.gtin} is filed",
            type_="/problems/not-found",
            headers=headers,
        )
    return found


def _base(services: Services) -> str:
    """Where every link points: the configured public URL, never the request's Host."""
    return services.settings.public_url.rstrip("/")


class ResolverController(Controller):
    tags = ["resolver"]  # noqa: RUF012

    @get(
        ["/01", PAGE_PREFIX + "/01"],
        sync_to_thread=False,
        summary="No GTIN: a malformed Digital Link path, always 400",
        responses=problem_responses(400),
    )
    def no_gtin(self) -> Response[Any]:
        _link("/01")  # raises: the one wording of every malformed path
        raise AssertionError("unreachable")

    # In the event loop, not a worker thread: the cache is asked without blocking it,
    # and only a miss goes to a thread (resolve_async). The page, which writes its scan
    # counter, stays in a thread.
    @get(
        "/01/{rest:path}",
        summary="Resolve a GS1 Digital Link (redirect, JSON facts or RFC 9264 linkset)",
        responses=problem_responses(400, 404),
    )
    async def resolve_link(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        rest: RestPath,
        linktype: Annotated[str | None, QueryParameter(name="linkType")] = None,
    ) -> Response[Any]:
        link = _link("/01" + rest)
        base = _base(services)
        headers = {"Link": linkset_header(base, link)}
        wanted = None
        if linktype is not None and linktype not in LINKSET_TYPES:
            wanted = link_type(linktype)
            if wanted is None:
                known = ", ".join(["linkset", "all", *(f"gs1:{t}" for t in LINK_TYPES)])
                raise Problem(
                    404,
                    "Not found",
                    f"no link of type {linktype[:60]!r} here; known: {known}",
                    type_="/problems/unknown-link-type",
                    headers=headers,
                )
        found = _found(link, await resolve_async(services, link), headers)
        representation = _representation(request) if linktype is None else None
        if linktype in LINKSET_TYPES or representation == LINKSET_JSON:
            return Response(linkset(found, base), media_type=LINKSET_JSON, headers=_cache(headers))
        if representation == JSON:
            return Response(facts(found, base), media_type=JSON, headers=_cache(headers))
        targets = links(found, base).get(wanted or DEFAULT_LINK)
        if not targets:
            raise Problem(
                404,
                "Not found",
                f"this item has no {GS1_VOC}{wanted} link",
                type_="/problems/unknown-link-type",
                headers=headers,
            )
        location = str(targets[0]["href"])
        if wanted is None and request.url.query:
            location += "?" + request.url.query  # the query string passes on to the page
        headers["Location"] = location
        # Which answer a GET gets depends on Accept, the redirect included.
        headers.update({"Cache-Control": "no-store", "Vary": "Accept"})
        return Response(b"", status_code=307, headers=headers)

    @get(
        "/.well-known/gs1resolver",
        sync_to_thread=False,
        summary="The resolver description file (GS1-Conformant Resolver standard)",
        responses=problem_responses(),
    )
    def description(self, services: ServicesDep) -> Response[dict[str, Any]]:
        base = _base(services)
        body = {
            "name": "credtrace resolver",
            "resolverRoot": base,
            "supportedPrimaryKeys": ["01"],
            "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
            "linkTypeDefaultCanBeLinkset": True,
            "linkTypeDefaultCanBeAll": True,
            "supportedContextValuesEnumerated": [],
            "supportedContextValuesExternal": [],
        }
        return Response(body, headers={"Cache-Control": "public, max-age=3600"})


def count_scan_once(services: Services, serial: str) -> ScanCount:
    settings = services.settings
    return count_scan(
        services.engine, settings.redis_url, serial, now_time(), settings.redis_prefix
    )


def proof_href(base: str, found: Resolution) -> str | None:
    """The proof of the most specific fact shown: the code, else the batch, else the product."""
    code = found.code
    if code is not None and code.code is not None:
        return f"{base}/v1/codes/{code.code.gtin}/{code.code.batch}/{code.serial}/proof"
    entry = found.batch.declared_entry if found.batch is not None else found.product.filed_entry
    return None if entry is None else f"{base}/v1/ledger/entries/{entry}/proof"


def _cache(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Cache-Control": "public, max-age=30", "Vary": "Accept"}


def resolver_preflight(app: ASGIApp, public_url: str) -> ASGIApp:
    """Answer OPTIONS on resolver paths, with CORS and the Link header, before Litestar.

    Litestar's CORS middleware answers a preflight itself and drops every other header;
    GS1's conformance tests send ``Access-Control-Request-Method: GET,HEAD,OPTIONS`` and
    want the linkset Link header on that answer too.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] != "OPTIONS"
            or not path.startswith(RESOLVER_PREFIXES)
        ):
            await app(scope, receive, send)
            return
        headers = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", ALLOWED.encode()),
            (b"access-control-allow-headers", b"Accept, Accept-Language, Content-Type, Origin"),
            (b"access-control-expose-headers", EXPOSED.encode()),
            (b"access-control-max-age", b"86400"),
            (b"allow", ALLOWED.encode()),
        ]
        status = 204
        if path.startswith("/01"):
            try:
                link = parse_path(path)
            except LinkError:
                status = 400
            else:
                base = public_url.rstrip("/")  # never the request's Host
                headers.append((b"link", linkset_header(base, link).encode()))
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": headers,
        }
        await send(start)
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"",
            "more_body": False,
        }
        await send(body)

    return wrapped


class PageController(Controller):
    """The consumer page, the one ``gs1:defaultLink`` of every resolved item."""

    tags = ["resolver"]  # noqa: RUF012

    @get(
        PAGE_PREFIX + "/01/{rest:path}",
        sync_to_thread=True,
        media_type="text/html",
        summary="The consumer page (zh-CN, English with ?lang=en)",
        responses=problem_responses(400, 404),
    )
    def page(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        rest: RestPath,
        lang: Annotated[str | None, QueryParameter(name="lang", max_length=16)] = None,
    ) -> Response[str]:
        link = _link("/01" + rest)
        base = _base(services)
        found = _found(link, resolve(services, link), {"Link": linkset_header(base, link)})
        language = pick_language(lang, request.headers.get("accept-language"))
        scans = None
        code = found.code
        # Issued codes only (guesses cost nothing); a HEAD shows nobody the page.
        if code is not None and code.code is not None and not request.scope.get(HEAD_AS_GET):
            scans = count_scan_once(services, code.serial)
        other = other_language(language)
        facts_of_page = PageFacts(
            lang=language,
            scans=scans,
            scan_warning=services.settings.scan_warning,
            switch_href=f"{base}{PAGE_PREFIX}{link.path()}?lang={other}",
            proof_href=proof_href(base, found),
            tree_size=found.product.tree_size,
        )
        headers = {
            "Link": linkset_header(base, link),
            "Cache-Control": "no-store",  # every view is counted
            "Content-Language": language,
            "Vary": "Accept-Language",
        }
        # Litestar names the charset of a text type itself: once.
        return Response(render(found, facts_of_page), media_type=HTML, headers=headers)
