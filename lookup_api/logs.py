"""Log output of the service: one JSON object per line (``--log-format json``), or text.

A JSON line holds the time (UTC), level, logger and message, and the request fields the
access log adds (method, route, path, status, ms). Nothing logs a header, a query string,
a body or a key: the access line names the path only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

FORMATS = ("text", "json")
REQUEST_FIELDS = ("method", "route", "path", "status", "ms")
SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "_granian",
    "granian.access",
    "credtrace",
    "lookup_api",
    "ledger",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def log_config(fmt: str, access: bool = True, level: str = "info") -> dict[str, Any]:
    """A logging dictConfig for the HTTP server and the service's own loggers; ``access``:
    one line per request (for production; the demo keeps its console for its banner);
    ``level``: the least level logged (access lines are info)."""
    least = level.upper()
    formatter: dict[str, Any] = (
        {"()": "lookup_api.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            name: {"handlers": ["stdout"], "level": least, "propagate": False}
            for name in SERVER_LOGGERS
        }
        | {
            "credtrace.access": {
                "handlers": ["stdout"],
                "level": least if access else "WARNING",
                "propagate": False,
            }
        },
    }
