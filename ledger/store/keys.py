"""The log's Ed25519 signing key on disk: created on first start with mode 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ledger.errors import Misconfigured
from ledger.store.files import private_dirs
from ledger.tlog.note import NoteError, Signer


class KeyFileError(Misconfigured, RuntimeError):
    """The key file cannot be created or read safely."""


def load_or_create_signer(path: Path, origin: str) -> Signer:
    """Read the signing key at ``path``, creating it (0600) when it does not exist."""
    if not path.exists():
        private_dirs(path.parent)
        signer = Signer.generate(origin)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_signer(path, origin)  # another process created it first
        with os.fdopen(fd, "w") as handle:
            handle.write(signer.serialize() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
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
