"""API keys: created once and shown once, stored as SHA-256 of a 256-bit secret.

A key reads ``ct_<key id>_<secret>``. Roles: officer, enterprise (bound to one
USCC), platform, auditor. The key id (never the secret) names the actor in the
ledger, so every entry says which key wrote it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from ledger.records.ids import IdentifierError, normalise_uscc
from ledger.records.tables import LIVE
from ledger.store.engine import (
    MigrationChain,
    driver_statement,
    is_sqlite,
    run_migrations,
    write_transaction,
)
from ledger.store.sql import placeholders
from ledger.tlog.envelope import now_time
from lookup_api.roles import ROLES, Role

PREFIX = "ct_"
APP_MIGRATIONS = MigrationChain(
    name="app",
    script_location="lookup_api:migrations",
    version_table="app_alembic_version",
    head="app_0002_credit_recomputes",
)


class AuthError(Exception):
    """A key is missing, malformed, unknown, revoked or not allowed to do this."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: Role
    uscc: str | None
    label: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.key_id}"


def migrate(engine: Engine) -> None:
    run_migrations(engine, APP_MIGRATIONS)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_key(
    engine: Engine, role: str, uscc: str | None = None, label: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the token, which is shown this once and never stored."""
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "enterprise":
        if not uscc:
            raise AuthError("an enterprise key is bound to one enterprise: give --uscc")
        try:
            uscc = normalise_uscc(uscc)
        except IdentifierError as exc:
            raise AuthError(f"uscc: {exc}") from exc
        _require_active_enterprise(engine, uscc)
    elif uscc:
        raise AuthError("only enterprise keys are bound to a USCC")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with write_transaction(engine) as conn:
        conn.exec_driver_sql(
            placeholders(
                engine,
                "INSERT INTO api_keys (key_id, secret_hash, role, uscc, label, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
            ),
            (key_id, _hash(secret), role, uscc, label, now_time()),
        )
    return ApiKey(key_id, role, uscc, label), f"{PREFIX}{key_id}_{secret}"


def _require_active_enterprise(engine: Engine, uscc: str) -> None:
    """An enterprise key for an enterprise that is not filed, or revoked, could do nothing."""
    enterprises = LIVE["proj_enterprises"]
    with engine.connect() as conn:
        status = conn.execute(
            select(enterprises.c.status).where(enterprises.c.uscc == uscc)
        ).scalar_one_or_none()
    if status is None:
        raise AuthError(
            f"enterprise {uscc} is not filed: record its enterprise.filed first, "
            "then create its key"
        )
    if status != "active":
        raise AuthError(f"enterprise {uscc} is {status}: its key could write nothing")


def revoke_key(engine: Engine, key_id: str) -> bool:
    with write_transaction(engine) as conn:
        result = conn.exec_driver_sql(
            placeholders(
                engine, "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"
            ),
            (now_time(), key_id),
        )
        return bool(result.rowcount)


def list_keys(engine: Engine) -> list[dict[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT key_id, role, uscc, label, created_at, revoked_at FROM api_keys "
            "ORDER BY created_at"
        ).all()
    names = ("key_id", "role", "uscc", "label", "created_at", "revoked_at")
    return [dict(zip(names, row, strict=True)) for row in rows]


class KeyStore:
    """Checks bearer tokens against the key table on every request.

    No cache: a revocation takes effect on the next request in every worker process,
    for the price of one primary-key read per authenticated request. The read is one
    round trip: outside a transaction (a single-row read needs none, and so no BEGIN
    and ROLLBACK around it).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)
        self._select = placeholders(
            engine,
            "SELECT secret_hash, role, uscc, label, revoked_at FROM api_keys WHERE key_id = ?",
        )

    def authenticate(self, authorization: str | None) -> ApiKey:
        key_id, secret = parse_token(authorization)
        return self._check(key_id, secret)

    async def authenticate_async(self, authorization: str | None) -> ApiKey:
        """``authenticate`` for the event loop: the header is parsed in it (a malformed
        one costs no thread), the key read in a worker thread."""
        key_id, secret = parse_token(authorization)
        return await asyncio.to_thread(self._check, key_id, secret)

    def _check(self, key_id: str, secret: str) -> ApiKey:
        row = self._row(key_id)
        # One answer for an unknown id, a wrong secret and a revoked key: a caller learns
        # nothing about which key ids exist.
        if row is None or not hmac.compare_digest(bytes(row[0]), _hash(secret)):
            raise AuthError("unknown or revoked API key")
        if row[4] is not None:
            raise AuthError("unknown or revoked API key")
        return ApiKey(key_id, row[1], row[2], row[3])

    def _row(self, key_id: str) -> Any:
        if self._sqlite:
            with self.engine.connect() as conn:  # its begin hook takes the snapshot
                return conn.exec_driver_sql(self._select, (key_id,)).first()
        # On the driver's own connection: SQLAlchemy's around this one-row read cost
        # about as much as the read itself, on every authenticated request.
        with driver_statement(self.engine) as driver:
            return driver.execute(self._select, (key_id,), prepare=True).fetchone()


def parse_token(authorization: str | None) -> tuple[str, str]:
    """The key id and secret of an ``Authorization: Bearer ct_<key id>_<secret>`` header."""
    if not authorization:
        raise AuthError("this route needs an API key: Authorization: Bearer ct_...")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(PREFIX):
        raise AuthError("the Authorization header must be 'Bearer ct_<key id>_<secret>'")
    key_id, _, secret = token[len(PREFIX) :].partition("_")
    if not key_id or not secret:
        raise AuthError("malformed API key")
    return key_id, secret
