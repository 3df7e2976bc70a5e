"""The officer dashboard: charts drawn on the server as SVG."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from credit.catalogue import load_policy
from ledger.store.engine import read_transaction
from lookup_api.dependencies import ServicesDep
from lookup_api.problems import problem_responses
from lookup_api.routes.dashboard.page import TEXT, body
from lookup_api.routes.dashboard.service import figures
from lookup_api.routes.explorer.controller import HTML, PRIVATE, LangQuery
from lookup_api.routes.explorer.layout import document
from lookup_api.routes.resolver.page import pick_language
from lookup_api.routes.state.controller import today_in_china

STYLE = ".chart-box svg{display:block;max-width:720px;margin:0 auto}.note{color:#555}"


class DashboardController(Controller):
    tags = ["officer pages"]  # noqa: RUF012

    @get(
        "/officer/dashboard",
        media_type="text/html",
        sync_to_thread=True,
        summary="Dashboard: grades, violations per month, non-conformity by port (officer)",
        responses=problem_responses(400, 401, 403),
        security=[{"bearer": []}],
    )
    def dashboard(
        self, request: Request[Any, Any, Any], services: ServicesDep, lang: LangQuery = None
    ) -> Response[str]:
        policy = load_policy()
        with read_transaction(services.engine) as conn:
            found = figures(conn, policy, today_in_china())
            checkpoint = services.ledger.latest_checkpoint(conn)
        language = pick_language(lang, request.headers.get("accept-language"))
        size = checkpoint.size if checkpoint else 0
        html = document(
            TEXT[language]["title"], language, body(found, policy, language, size), STYLE
        )
        return Response(html, media_type=HTML, headers=PRIVATE)
