"""Health and metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get

from lookup_api.dependencies import ServicesDep
from lookup_api.metrics import SharedMetrics, render
from lookup_api.problems import problem_responses


class Health(msgspec.Struct):
    status: str
    tree_size: int
    database: str


class SystemController(Controller):
    tags = ["system"]  # noqa: RUF012

    @get("/health", sync_to_thread=True, summary="Liveness and database reachability")
    def health(self, services: ServicesDep) -> Response[Health]:
        try:
            size = services.ledger.size()
        except Exception:
            return Response(Health("unavailable", 0, services.engine.dialect.name), status_code=503)
        return Response(
            Health("ok", size, services.engine.dialect.name), headers={"Cache-Control": "no-store"}
        )

    @get("/metrics", media_type="text/plain", sync_to_thread=True, responses=problem_responses())
    def metrics(self, services: ServicesDep, request: Request[Any, Any, Any]) -> str:
        shared: SharedMetrics = request.app.state.metrics
        appender = services.appender
        gauges = {
            "credtrace_tree_size": ("Entries in the log.", float(services.ledger.size())),
            "credtrace_append_batches": (
                "Group-commit transactions by the answering process.",
                float(appender.batches),
            ),
            "credtrace_appended_entries": (
                "Entries appended through the answering process.",
                float(appender.appended),
            ),
        }
        return render(shared.all_counts(), gauges)
