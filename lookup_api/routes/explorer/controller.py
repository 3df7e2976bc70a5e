"""The ledger explorer (officer pages) and the script that checks proofs in the browser."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from lookup_api.authorization import required_key
from lookup_api.dependencies import ServicesDep
from lookup_api.params import IndexPath, OptionalSizeQuery, parse_decimal, parse_optional_decimal
from lookup_api.problems import problem_responses
from lookup_api.routes.explorer.layout import document
from lookup_api.routes.explorer.page import STYLE, TEXT, VERIFY_SCRIPT, entry_body, list_body
from lookup_api.routes.explorer.service import entries_page, one_entry
from lookup_api.routes.resolver.page import pick_language

HTML = "text/html"  # Litestar adds the charset
SCRIPT = files("lookup_api.routes.explorer").joinpath("ledger-verify.js").read_text("utf-8")
PRIVATE = {"Cache-Control": "private, no-store", "Vary": "Accept-Language"}
LangQuery = Annotated[str | None, QueryParameter(description="zh (default) or en", max_length=16)]


def _language(request: Request[Any, Any, Any], lang: str | None) -> str:
    return pick_language(lang, request.headers.get("accept-language"))


class ExplorerController(Controller):
    tags = ["officer pages"]  # noqa: RUF012

    @get(
        "/officer/ledger",
        media_type="text/html",
        sync_to_thread=True,
        summary="Ledger explorer: entries, newest first (officer)",
        responses=problem_responses(400, 401, 403),
        security=[{"bearer": []}],
    )
    def ledger(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        before: OptionalSizeQuery = None,
        lang: LangQuery = None,
    ) -> Response[str]:
        page = entries_page(
            services, required_key(request), parse_optional_decimal(before, "before", minimum=1)
        )
        language = _language(request, lang)
        html = document(TEXT[language]["title"], language, list_body(page, language), STYLE)
        return Response(html, media_type=HTML, headers=PRIVATE)

    @get(
        "/officer/ledger/{index:str}",
        media_type="text/html",
        sync_to_thread=True,
        summary="One ledger entry, its proof checked by the browser (officer)",
        responses=problem_responses(400, 401, 403, 404),
        security=[{"bearer": []}],
    )
    def entry(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        index: IndexPath,
        lang: LangQuery = None,
    ) -> Response[str]:
        view, size = one_entry(services, required_key(request), parse_decimal(index, "index"))
        language = _language(request, lang)
        title = TEXT[language]["entry"].format(index=view.index)
        html = document(title, language, entry_body(view, size, language), STYLE)
        return Response(html, media_type=HTML, headers=PRIVATE)

    @get(
        VERIFY_SCRIPT,
        media_type="text/javascript",
        sync_to_thread=False,
        summary="The browser-side proof checker (RFC 9162 inclusion, C2SP checkpoints)",
        responses=problem_responses(),
    )
    def verify_script(self) -> Response[str]:
        return Response(
            SCRIPT,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )
