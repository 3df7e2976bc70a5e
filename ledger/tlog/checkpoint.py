"""C2SP tlog-checkpoint bodies and tlog-proof documents."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ledger.errors import InvalidInput
from ledger.tlog.merkle import HASH_SIZE, ProofError, verify_inclusion
from ledger.tlog.note import NoteError, Signer, Verifier, open_note, sign_note

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class CheckpointError(InvalidInput):
    """A checkpoint or tlog-proof is malformed, unsigned or inconsistent."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "\n".join(lines) + "\n"

    def sign(self, signer: Signer) -> str:
        return sign_note(self.body(), signer)

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise CheckpointError("checkpoint body needs origin, size and root lines")
        origin, size_line, root_line, *extensions = lines[:-1]
        if not origin:
            raise CheckpointError("checkpoint origin is empty")
        if any(not line for line in extensions):
            raise CheckpointError("checkpoint extension lines must not be empty")
        if not _DECIMAL.fullmatch(size_line):
            raise CheckpointError(f"checkpoint size {size_line!r} is not a decimal number")
        root = unb64(root_line, "checkpoint root")
        if len(root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root must be {HASH_SIZE} bytes, got {len(root)}")
        return cls(origin, int(size_line), root, tuple(extensions))


def open_checkpoint(note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint and return it; the origin must match when given."""
    try:
        text = open_note(note, verifier)
    except NoteError as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from exc
    checkpoint = Checkpoint.parse_body(text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin: expected {origin!r}, got {checkpoint.origin!r}")
    return checkpoint


def format_tlog_proof(index: int, audit_path: list[bytes], checkpoint_note: str) -> str:
    lines = [TLOG_PROOF_HEADER, f"index {index}", *(b64(h) for h in audit_path)]
    return "\n".join(lines) + "\n\n" + checkpoint_note


@dataclass(frozen=True)
class TlogProof:
    index: int
    audit_path: list[bytes]
    checkpoint_note: str
    extra: bytes | None = None

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise CheckpointError("tlog-proof has no blank line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            raise CheckpointError(f"tlog-proof must start with {TLOG_PROOF_HEADER}")
        pos = 1
        extra = None
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = unb64(lines[pos][6:], "tlog-proof extra")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith("index "):
            raise CheckpointError("tlog-proof has no index line")
        index_text = lines[pos][6:]
        if not _DECIMAL.fullmatch(index_text):
            raise CheckpointError(f"tlog-proof index {index_text!r} is not a decimal number")
        path = [unb64(line, "tlog-proof hash") for line in lines[pos + 1 :]]
        return cls(int(index_text), path, note, extra)

    def verify(self, leaf_hash: bytes, verifier: Verifier, origin: str | None = None) -> Checkpoint:
        """Check the checkpoint's signature and the leaf's inclusion; return the checkpoint."""
        checkpoint = open_checkpoint(self.checkpoint_note, verifier, origin)
        try:
            verify_inclusion(
                self.index, checkpoint.size, leaf_hash, self.audit_path, checkpoint.root
            )
        except ProofError as exc:
            raise CheckpointError(f"inclusion of entry {self.index}: {exc}") from exc
        return checkpoint
