"""The ledger explorer (officer pages) and the script that checks proofs in the browser."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from litestar import Controller, Request, Response, get

from lookup_api.authorization import required_key
from lookup_api.dependencies import ServicesDep
from lookup_api.pages.layout import CSP, html_response, render_page
from lookup_api.params import IndexPath, OptionalSizeQuery, parse_decimal, parse_optional_decimal
from lookup_api.problems import problem_responses
from lookup_api.routes.explorer.page import STYLE, TEXT, VERIFY_SCRIPT, entry_body, list_body
from lookup_api.routes.explorer.service import entries_page, one_entry
from lookup_api.routes.officer.controller import LangParam, officer_shell, page_responses

SCRIPT = files("lookup_api.routes.explorer").joinpath("ledger-verify.js").read_text("utf-8")
# The entry page runs the app's own checker, which reads the log's public routes.
VERIFY_CSP = CSP + "; script-src 'self'; connect-src 'self'"


class ExplorerController(Controller):
    tags = ["officer pages"]  # noqa: RUF012

    @get(
        "/officer/ledger",
        media_type="text/html",
        sync_to_thread=True,
        summary="Ledger explorer: entries, newest first (HTML, officer key or session)",
        responses=page_responses(400, 401, 403, redirects=True),
        security=[{"bearer": []}],
    )
    def ledger(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        before: OptionalSizeQuery = None,
        lang: LangParam = None,
    ) -> Response[str]:
        page = entries_page(
            services, required_key(request), parse_optional_decimal(before, "before", minimum=1)
        )
        shell = officer_shell(request, services)
        body = list_body(page, shell)
        return html_response(
            render_page(shell, TEXT[shell.lang]["title"], body, STYLE), lang=shell.lang
        )

    @get(
        "/officer/ledger/{index:str}",
        media_type="text/html",
        sync_to_thread=True,
        summary="One ledger entry, its proof checked by the browser (HTML, officer)",
        responses=page_responses(400, 401, 403, 404, redirects=True),
        security=[{"bearer": []}],
    )
    def entry(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        index: IndexPath,
        lang: LangParam = None,
    ) -> Response[str]:
        view, size = one_entry(services, required_key(request), parse_decimal(index, "index"))
        shell = officer_shell(request, services)
        title = TEXT[shell.lang]["entry"].format(index=view.index)
        document = render_page(shell, title, entry_body(view, size, shell), STYLE)
        return html_response(document, lang=shell.lang, csp=VERIFY_CSP)

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
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )
