"""CSRF tokens: HMAC-SHA256 under a server-side secret, kept owner-only beside the log's
signing key. The standard library only, so the services' wiring can load the secret
without the web stack."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from ledger.store.files import write_new_private_file

SECRET_FILE = "pages.key"  # noqa: S105 - a file name; the secret is inside, 0600


def load_or_create_secret(key_file: Path) -> bytes:
    """The CSRF secret kept beside ``key_file`` (0600), created on first start; every
    worker reads the same one."""
    path = key_file.with_name(SECRET_FILE)
    write_new_private_file(path, secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def csrf_token(secret: bytes, session: str) -> str:
    mac = hmac.new(secret, b"credtrace-csrf\0" + session.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_valid(secret: bytes, session: str | None, presented: str | None) -> bool:
    if not session or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, session).encode(), presented.encode())
