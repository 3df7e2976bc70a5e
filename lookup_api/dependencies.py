"""Litestar dependencies: route handlers receive the services by name, explicitly."""

from __future__ import annotations

from litestar.di import NamedDependency

from lookup_api.wiring import Services

ServicesDep = NamedDependency[Services]
