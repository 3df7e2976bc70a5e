"""The log's Ed25519 signing key on disk: created on first start with mode 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from ledger.errors import Misconfigured
from ledger.store.files import write_new_private_file
from ledger.tlog.note import NoteError, Signer


class KeyFileError(Misconfigured, RuntimeError):
    """The key file cannot be created or read safely."""


def load_or_create_signer(path: Path, origin: str) -> Signer:
    """Read the signing key at ``path``, creating it (0600) when it does not exist."""
    if not path.exists():
        signer = Signer.generate(origin)
        if write_new_private_file(path, signer.serialize() + "\n"):
            return signer
    return load_signer(path, origin)


def load_signer(path: Path, origin: str | None = None) -> Signer:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"signing key {path} is readable by others (mode {mode:04o}); run chmod 600 on it"
        )
    try:
        signer = Signer.parse(path.read_text())
    except NoteError as exc:
        raise KeyFileError(f"signing key {path} is not a signed-note private key: {exc}") from exc
    if origin is not None and signer.name != origin:
        raise KeyFileError(
            f"signing key {path} is for {signer.name!r}, but the log's origin is {origin!r}"
        )
    return signer
