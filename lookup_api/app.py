"""The Litestar application."""

from __future__ import annotations

import logging
import os

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from lookup_api.authorization import authorise_request
from lookup_api.metrics import Metrics, SharedMetrics
from lookup_api.middleware import answer_head_as_get, measured, rate_limited, time_limited
from lookup_api.openapi_viewer import PackagedViewer
from lookup_api.pages.answers import PageAnswer, page_answer_handler
from lookup_api.problems import problem_handler
from lookup_api.ratelimit import Limiter, LocalLimiter, RedisLimiter
from lookup_api.routes.codes.controller import CodesController
from lookup_api.routes.credit.controller import CreditController
from lookup_api.routes.dashboard.controller import DashboardController
from lookup_api.routes.explorer.controller import ExplorerController
from lookup_api.routes.ledger.controller import LedgerController
from lookup_api.routes.officer.controller import OfficerController
from lookup_api.routes.platform.controller import PlatformController
from lookup_api.routes.records.controller import RecordsController
from lookup_api.routes.resolver.controller import (
    PageController,
    ResolverController,
    resolver_preflight,
)
from lookup_api.routes.state.controller import StateController
from lookup_api.routes.system.controller import SystemController
from lookup_api.settings import Settings
from lookup_api.wiring import Services

ACCESS_LOG = logging.getLogger("credtrace.access")
STARTUP_LOG = logging.getLogger("credtrace")
WORKER_READY = "worker ready, pid"


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    """Build the app; ``services`` lets tests and the CLI share already-open ones."""
    settings = settings or (services.settings if services else Settings.from_env())
    owned = services is None

    metrics = SharedMetrics(Metrics(), settings.metrics_dir)

    def startup(app: Litestar) -> None:
        app.state.services = services or Services.open(settings)
        app.state.services.appender.on_batch = metrics.metrics.observe_batch
        if app.state.services.cache is not None:
            app.state.services.cache.on_lookup = metrics.metrics.count_cache
        app.state.metrics = metrics
        metrics.start()
        # Made in the server's event loop, which the Redis client binds to.
        app.state.limiter = (
            RedisLimiter(settings.redis_url, settings.redis_prefix)
            if settings.redis_url
            else LocalLimiter()
        )
        # One line a worker: what a supervisor (or a test) waits for, whatever the server.
        STARTUP_LOG.info("%s %d", WORKER_READY, os.getpid())

    async def shutdown(app: Litestar) -> None:
        metrics.stop()
        limiter = getattr(app.state, "limiter", None)
        app.state.limiter = None
        if isinstance(limiter, RedisLimiter):
            await limiter.close()
        if owned and getattr(app.state, "services", None) is not None:
            app.state.services.close()

    def current_limiter() -> Limiter | None:
        found: Limiter | None = getattr(app.state, "limiter", None)
        return found

    def current_metrics() -> SharedMetrics | None:
        found: SharedMetrics | None = getattr(app.state, "metrics", None)
        return found

    # No parameters: Litestar builds a parameter's value (a State) for every request.
    def provide_services() -> Services:
        result: Services = app.state.services
        return result

    app = Litestar(
        route_handlers=[
            SystemController,
            LedgerController,
            RecordsController,
            StateController,
            CreditController,
            CodesController,
            PlatformController,
            ResolverController,
            PageController,
            OfficerController,
            ExplorerController,
            DashboardController,
        ],
        # One table decides who calls what (lookup_api.authorization), before any body.
        before_request=authorise_request,
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        on_startup=[startup],
        on_shutdown=[shutdown],
        # A page's redirect to sign in, or its refusal page, instead of problem+json.
        exception_handlers={Exception: problem_handler, PageAnswer: page_answer_handler},
        request_max_body_size=settings.max_body_bytes,
        cors_config=CORSConfig(
            allow_origins=["*"],
            allow_methods=["GET", "HEAD", "OPTIONS", "POST"],
            expose_headers=["Link", "Location", "Content-Type"],
        ),
        openapi_config=OpenAPIConfig(
            title="credtrace",
            version="0.1.0",
            path="/schema",
            render_plugins=[PackagedViewer()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key: ct_<key id>_<secret> (credtrace keys create)",
                    )
                }
            ),
        ),
    )
    # Outermost: a request is counted (once, HEAD too) before anything reads it; timed
    # inside the HEAD wrapper, which routes a HEAD as its GET (and so names its route);
    # a request past its time limit is answered 503 and measured so.
    limited = time_limited(app.asgi_handler, settings.request_timeout, ACCESS_LOG)
    app.asgi_handler = rate_limited(
        resolver_preflight(
            answer_head_as_get(measured(limited, current_metrics, ACCESS_LOG)),
            settings.public_url,
        ),
        settings.rate_limits,
        current_limiter,
        metrics.metrics.count_rate_limited,
    )
    return app


def create_app_from_env() -> Litestar:
    return create_app(Settings.from_env())
