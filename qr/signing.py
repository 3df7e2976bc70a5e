"""The code-signing keys: a key ring of their own, apart from the log's checkpoint key.

The key file (mode 0600) holds one C2SP signed-note private key per line, oldest first;
the last one signs new codes. Rotation appends a new key and keeps the old ones, so every
code ever signed still verifies against the published verifier keys (``verifier_lines``).

A code's ``sig`` is ``base64url(key id (4 bytes) || Ed25519 signature)`` without padding,
over the UTF-8 bytes of the canonical Digital Link URL (the URL without its query).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import InvalidInput, Misconfigured
from ledger.store.files import private_dirs, write_new_private_file
from ledger.tlog.note import NoteError, Signer, Verifier

KEY_ID_SIZE = 4
SIGNATURE_SIZE = 64
SIG_LENGTH = 91  # base64url characters of 68 bytes, unpadded


class CodeKeyFileError(Misconfigured):
    """The code-signing key file cannot be read, created or trusted."""


class SignatureError(InvalidInput):
    """A code's signature is malformed, by an unknown key, or does not verify."""


def code_key_name(origin: str) -> str:
    """The signed-note name of a log's code-signing keys."""
    return f"{origin}/codes"


@dataclass(frozen=True)
class CodeKeyRing:
    signers: tuple[Signer, ...]  # oldest first; the last one signs

    @property
    def current(self) -> Signer:
        return self.signers[-1]

    @property
    def key_id(self) -> str:
        """The current key's id, as ``codes.issued`` records it (8 hex digits)."""
        return self.current.verifier.key_id.hex()

    def verifiers(self) -> list[Verifier]:
        return [signer.verifier for signer in self.signers]


def _write_private(path: Path, lines: Iterable[str]) -> None:
    """Replace ``path`` with ``lines``, 0600 from the first byte, atomically."""
    private_dirs(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_code_keys(path: Path, name: str | None = None) -> CodeKeyRing:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CodeKeyFileError(
            f"code-signing key file {path} is readable by others (mode {mode:04o}); "
            "run chmod 600 on it"
        )
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise CodeKeyFileError(f"code-signing key file {path} holds no key")
    try:
        signers = tuple(Signer.parse(line) for line in lines)
    except NoteError as exc:
        raise CodeKeyFileError(f"code-signing key file {path}: {exc}") from exc
    if name is not None and any(signer.name != name for signer in signers):
        raise CodeKeyFileError(f"code-signing key file {path} holds a key not named {name!r}")
    return CodeKeyRing(signers)


def load_or_create_code_keys(path: Path, name: str) -> CodeKeyRing:
    """The key ring at ``path``; on first use one new key, written 0600."""
    if not path.exists():
        signer = Signer.generate(name)
        if write_new_private_file(path, signer.serialize() + "\n"):
            return CodeKeyRing((signer,))
    return load_code_keys(path, name)


def rotate_code_key(path: Path, name: str) -> CodeKeyRing:
    """Append a new signing key; the old ones stay, to verify the codes they signed."""
    ring = load_or_create_code_keys(path, name)
    signer = Signer.generate(name)
    _write_private(path, [s.serialize() for s in (*ring.signers, signer)])
    return CodeKeyRing((*ring.signers, signer))


def verifier_lines(verifiers: Iterable[Verifier]) -> str:
    """The published verifier keys, one per line, oldest first."""
    return "".join(f"{verifier}\n" for verifier in verifiers)


def parse_verifier_lines(text: str) -> list[Verifier]:
    try:
        return [Verifier.parse(line) for line in text.splitlines() if line.strip()]
    except NoteError as exc:
        raise SignatureError(f"code verifier key: {exc}") from exc


def sign_url(canonical_url: str, signer: Signer) -> str:
    signature = signer.private_key.sign(canonical_url.encode("utf-8"))
    raw = signer.verifier.key_id + signature
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_sig(sig: str) -> bytes:
    if len(sig) != SIG_LENGTH:
        raise SignatureError(f"sig must be {SIG_LENGTH} base64url characters, got {len(sig)}")
    try:
        raw = base64.urlsafe_b64decode(sig + "=")
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("sig is not base64url") from exc
    # Only one spelling is accepted: the unused low bits of the last character must be 0.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != sig:
        raise SignatureError("sig is not canonical base64url")
    return raw


def verify_url_signature(canonical_url: str, sig: str, verifiers: Sequence[Verifier]) -> Verifier:
    """The key that signed ``canonical_url``, or SignatureError saying what is wrong."""
    raw = _decode_sig(sig)
    key_id, signature = raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]
    verifier = next((v for v in verifiers if v.key_id == key_id), None)
    if verifier is None:
        raise SignatureError(f"sig is by key {key_id.hex()}, which is not a known code key")
    if not verifier.verify(canonical_url.encode("utf-8"), signature):
        raise SignatureError(f"sig does not verify under code key {key_id.hex()}")
    return verifier
