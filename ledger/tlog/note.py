"""C2SP signed-note: Ed25519 signers, verifier keys and note signing/opening.

Key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]; a verifier key is
``name+hexkeyid+base64(0x01 || public key)``; a signature line is
``— name base64(key ID || signature)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import InvalidInput

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash and space
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


class NoteError(InvalidInput):
    """A note, key or signature is malformed or does not verify."""


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"key name {name!r} must be non-empty with no spaces and no '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must be name+hexkeyid+base64key")
        name, hex_id, b64key = parts
        _check_name(name)
        if len(hex_id) != 8:
            raise NoteError(f"verifier key id must be 8 hex digits, got {hex_id!r}")
        try:
            kid = bytes.fromhex(hex_id)
        except ValueError as exc:
            raise NoteError(f"verifier key id {hex_id!r} is not hex") from exc
        raw = _b64decode(b64key, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key must be an Ed25519 key (0x01 followed by 32 bytes)")
        if key_id(name, raw[1:]) != kid:
            raise NoteError(
                f"verifier key id mismatch: expected {key_id(name, raw[1:]).hex()}, got {hex_id}"
            )
        return cls(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))

    @property
    def public_bytes(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_bytes).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+name+hexkeyid+base64(0x01 || seed)``."""
        text = skey.strip()
        if not text.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("signing key must start with PRIVATE+KEY+")
        parts = text[len(PRIVATE_KEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("signing key must be PRIVATE+KEY+name+hexkeyid+base64key")
        name, hex_id, b64key = parts
        _check_name(name)
        raw = _b64decode(b64key, "signing key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signing key must be an Ed25519 seed (0x01 followed by 32 bytes)")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_id.hex() != hex_id:
            raise NoteError("signing key id does not match its key")
        return signer

    @property
    def verifier(self) -> Verifier:
        public = self.private_key.public_key()
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, key_id(self.name, raw), public)

    def serialize(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    def sign_line(self, text: str) -> str:
        sig = self.private_key.sign(text.encode())
        encoded = base64.b64encode(self.verifier.key_id + sig).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"

    def __repr__(self) -> str:  # never print key material
        return f"Signer(name={self.name!r}, key_id={self.verifier.key_id.hex()})"


def sign_note(text: str, signer: Signer) -> str:
    _check_text(text)
    return text + "\n" + signer.sign_line(text)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if text.startswith("\n"):
        raise NoteError("note text must not start with an empty line")
    _check_characters(text, "note text")


def _check_characters(text: str, what: str) -> None:
    """C2SP: valid UTF-8 and no ASCII control characters other than newline."""
    bad = next((c for c in text if ord(c) < 0x20 and c != "\n"), None)
    if bad is not None:
        raise NoteError(f"{what} contains the control character U+{ord(bad):04X}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid Unicode") from exc


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and parsed signature lines (not yet verified)."""
    _check_characters(note, "signed note")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("signed note has no blank line before its signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise NoteError("signed note must end with a newline")
    signatures: list[Signature] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"malformed signature line {line!r}")
        fields = line[len(SIGNATURE_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteError(f"malformed signature line {line!r}")
        name, b64sig = fields
        _check_name(name)
        raw = _b64decode(b64sig, "signature")
        if len(raw) < 5:
            raise NoteError(f"signature by {name} is too short")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("signed note carries no signature")
    return text, signatures


def open_note(note: str, verifier: Verifier) -> str:
    """Return the note's text if ``verifier`` signed it; raise NoteError otherwise."""
    text, signatures = split_note(note)
    for sig in signatures:
        if sig.name == verifier.name and sig.key_id == verifier.key_id:
            if not verifier.verify(text.encode(), sig.signature):
                raise NoteError(f"signature by {verifier.name}+{verifier.key_id.hex()} is invalid")
            return text
    raise NoteError(f"note is not signed by {verifier.name}+{verifier.key_id.hex()}")
