"""The officer dashboard: charts drawn on the server as SVG."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from credit.catalogue import load_policy
from ledger.store.engine import read_transaction
from lookup_api.dependencies import ServicesDep
from lookup_api.pages.layout import html_response, render_page
from lookup_api.routes.dashboard.page import STYLE, TEXT, body
from lookup_api.routes.dashboard.service import figures
from lookup_api.routes.officer.controller import LangParam, officer_shell, page_responses
from lookup_api.routes.state.controller import today_in_china


class DashboardController(Controller):
    tags = ["officer pages"]  # noqa: RUF012

    @get(
        "/officer/dashboard",
        media_type="text/html",
        sync_to_thread=True,
        summary="Dashboard: grades, violations per month, non-conformity by port (HTML, officer)",
        responses=page_responses(400, 401, 403, redirects=True),
        security=[{"bearer": []}],
    )
    def dashboard(
        self, request: Request[Any, Any, Any], services: ServicesDep, lang: LangParam = None
    ) -> Response[str]:
        policy = load_policy()
        with read_transaction(services.engine) as conn:
            found = figures(conn, policy, today_in_china())
            checkpoint = services.ledger.latest_checkpoint(conn)
        shell = officer_shell(request, services)
        size = checkpoint.size if checkpoint else 0
        document = render_page(
            shell, TEXT[shell.lang]["title"], body(found, policy, shell.lang, size), STYLE
        )
        return html_response(document, lang=shell.lang)
