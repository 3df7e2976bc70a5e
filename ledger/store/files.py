"""Files the server keeps at rest (the SQLite database, its WAL, the signing key) are
owner-only: folders it creates 0700, files 0600. SQLite gives its -wal and -shm files the
mode of the database file, so creating that file 0600 covers all three."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents owner-only; existing folders are left as
    they are (they may be shared, such as a home or a temporary folder)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is narrowed by the umask only


def private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only if it does not exist yet."""
    private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def write_new_private_file(path: Path, text: str) -> bool:
    """Create ``path`` owner-only (0600, in 0700 folders) holding ``text``, durably; False
    when it exists already (another process may have created it first)."""
    private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return True
