"""Health and metrics."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get

from lookup_api.dependencies import ServicesDep
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
    def metrics(self, services: ServicesDep) -> str:
        appender = services.appender
        lines = [
            "# HELP credtrace_tree_size Entries in the log.",
            "# TYPE credtrace_tree_size gauge",
            f"credtrace_tree_size {services.ledger.size()}",
            "# HELP credtrace_append_batches_total Group-commit transactions by this process.",
            "# TYPE credtrace_append_batches_total counter",
            f"credtrace_append_batches_total {appender.batches}",
            "# HELP credtrace_appended_entries_total Entries appended through this process.",
            "# TYPE credtrace_appended_entries_total counter",
            f"credtrace_appended_entries_total {appender.appended}",
        ]
        return "\n".join(lines) + "\n"
