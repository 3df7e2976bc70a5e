"""Application settings from the environment; every one has a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ledger.store.config import LedgerConfig
from lookup_api.ratelimit import RateLimits


@dataclass(frozen=True)
class Settings:
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    redis_url: str | None = None
    redis_prefix: str = "credtrace:"  # so that several services can share one Redis
    public_url: str = "http://127.0.0.1:8000"
    # Group commit: the most entries one sequencer transaction takes.
    max_append_batch: int = 2048
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # Where each worker of `credtrace serve` leaves its metrics for the others (the
    # server makes one per run); None: this process counts alone.
    metrics_dir: Path | None = None
    # The code-signing key ring (qr.signing), apart from the log's key; created 0600.
    code_key_file: Path = Path("var/codes.key")
    # Scans of one code past which the consumer page warns that it may be cloned.
    scan_warning: int = 10
    # Seconds a request may take before it is answered 503 (None: no limit).
    request_timeout: float | None = 30.0
    # The largest request body taken, in bytes; a larger one is answered 413.
    max_body_bytes: int = 1_048_576

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            ledger=LedgerConfig.from_env(),
            redis_url=os.environ.get("CREDTRACE_REDIS_URL") or None,
            redis_prefix=os.environ.get("CREDTRACE_REDIS_PREFIX") or "credtrace:",
            public_url=(os.environ.get("CREDTRACE_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip(
                "/"
            ),
            max_append_batch=int(os.environ.get("CREDTRACE_MAX_APPEND_BATCH") or 2048),
            rate_limits=RateLimits.from_env(os.environ),
            metrics_dir=Path(os.environ["CREDTRACE_METRICS_DIR"])
            if os.environ.get("CREDTRACE_METRICS_DIR")
            else None,
            code_key_file=Path(os.environ.get("CREDTRACE_CODE_KEY_FILE") or "var/codes.key"),
            scan_warning=int(os.environ.get("CREDTRACE_SCAN_WARNING") or 10),
            request_timeout=_timeout(os.environ.get("CREDTRACE_REQUEST_TIMEOUT") or "30"),
            max_body_bytes=_positive(
                "CREDTRACE_MAX_BODY_BYTES", os.environ.get("CREDTRACE_MAX_BODY_BYTES") or "1048576"
            ),
        )


def _positive(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {value[:40]!r}")
    return number


def _timeout(value: str) -> float | None:
    """CREDTRACE_REQUEST_TIMEOUT: seconds, or ``off``."""
    if value.strip().lower() == "off":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(
            f"CREDTRACE_REQUEST_TIMEOUT must be seconds above 0 or off, got {value[:40]!r}"
        )
    return seconds
