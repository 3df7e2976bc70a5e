"""Application settings from the environment; every one has a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ledger.store.config import BadSetting, LedgerConfig, url_setting
from lookup_api.ratelimit import RateLimits

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
PUBLIC_SCHEMES = frozenset({"http", "https"})


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
    # The socket of the one sequencer that `credtrace serve --workers N` starts for its
    # workers (lookup_api.shared_sequencer); None: this process appends itself.
    sequencer_socket: Path | None = None
    # The code-signing key ring (qr.signing), apart from the log's key; created 0600.
    code_key_file: Path = Path("var/codes.key")
    # Scans of one code past which the consumer page warns that it may be cloned.
    scan_warning: int = 10
    # Seconds a request may take before it is answered 503 (None: no limit).
    request_timeout: float | None = 30.0
    # The largest request body taken, in bytes; a larger one is answered 413.
    max_body_bytes: int = 1_048_576
    # Whether ``credtrace serve`` regrades at start and after each midnight.
    recompute: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the environment gives; BadSetting names the first it cannot read."""
        env = os.environ
        redis_url = env.get("CREDTRACE_REDIS_URL") or None
        if redis_url is not None:
            url_setting("CREDTRACE_REDIS_URL", redis_url, REDIS_SCHEMES, "redis://HOST[:PORT][/DB]")
        public_url = env.get("CREDTRACE_PUBLIC_URL") or "http://127.0.0.1:8000"
        url_setting("CREDTRACE_PUBLIC_URL", public_url, PUBLIC_SCHEMES, "http(s)://HOST[:PORT]")
        return cls(
            ledger=LedgerConfig.from_env(),
            redis_url=redis_url,
            redis_prefix=env.get("CREDTRACE_REDIS_PREFIX") or "credtrace:",
            public_url=public_url.rstrip("/"),
            max_append_batch=_positive(
                "CREDTRACE_MAX_APPEND_BATCH", env.get("CREDTRACE_MAX_APPEND_BATCH") or "2048"
            ),
            rate_limits=RateLimits.from_env(env),
            metrics_dir=Path(env["CREDTRACE_METRICS_DIR"])
            if env.get("CREDTRACE_METRICS_DIR")
            else None,
            sequencer_socket=Path(env["CREDTRACE_SEQUENCER_SOCKET"])
            if env.get("CREDTRACE_SEQUENCER_SOCKET")
            else None,
            code_key_file=Path(env.get("CREDTRACE_CODE_KEY_FILE") or "var/codes.key"),
            scan_warning=_positive(
                "CREDTRACE_SCAN_WARNING", env.get("CREDTRACE_SCAN_WARNING") or "10"
            ),
            request_timeout=_timeout(env.get("CREDTRACE_REQUEST_TIMEOUT") or "30"),
            max_body_bytes=_positive(
                "CREDTRACE_MAX_BODY_BYTES", env.get("CREDTRACE_MAX_BODY_BYTES") or "1048576"
            ),
            recompute=_switch("CREDTRACE_RECOMPUTE", env.get("CREDTRACE_RECOMPUTE") or "on"),
        )


def _switch(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word not in ("on", "off"):
        raise BadSetting(name, "on or off", value)
    return word == "on"


def _positive(name: str, value: str) -> int:
    stripped = value.strip()
    if not (stripped.isascii() and stripped.isdigit()) or int(stripped) <= 0:
        raise BadSetting(name, "a positive whole number", value)
    return int(stripped)


def _timeout(value: str) -> float | None:
    """CREDTRACE_REQUEST_TIMEOUT: seconds, or ``off``."""
    if value.strip().lower() == "off":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise BadSetting("CREDTRACE_REQUEST_TIMEOUT", "seconds above 0, or off", value)
    return seconds
