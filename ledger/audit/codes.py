"""A traceability code's proof, checked with nothing but this package and the verifier key.

A batch's codes are committed to by one ``codes.issued`` entry whose payload holds
``serials_root``: the RFC 9162 Merkle root over the batch's serials in byte order, each
leaf the serial's ASCII bytes. A code's proof (``credtrace-code-proof/v1``) is:

- the serial's audit path to ``serials_root`` (its index among the sorted serials, their
  count);
- the issuing entry: its leaf input (the envelope), salt and payload, so the payload's
  commitment and fields can be checked;
- the entry's inclusion proof in a tree size, and the signed checkpoint of that size.

``verify_code_proof`` checks all three links and returns what was proven.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.errors import IntegrityError, InvalidInput
from ledger.tlog.checkpoint import CheckpointError, open_checkpoint
from ledger.tlog.envelope import EnvelopeError, parse_envelope, payload_commitment
from ledger.tlog.merkle import (
    ProofError,
    hash_leaf,
    inclusion_ranges,
    resolve_ranges,
    root_from_leaf_hashes,
    verify_inclusion,
)
from ledger.tlog.note import Verifier

PROOF_FORMAT = "credtrace-code-proof/v1"
ISSUED_KIND = "codes.issued"


class CodeProofError(IntegrityError):
    """A code's proof does not hold; the message names the link that broke."""


class MalformedCodeProof(InvalidInput):
    """The document is not a code proof: a field is missing or of the wrong type."""


def serial_leaf_hashes(sorted_serials: Sequence[str]) -> list[bytes]:
    return [hash_leaf(serial.encode("ascii")) for serial in sorted_serials]


def serials_root(sorted_serials: Sequence[str]) -> bytes:
    """The Merkle root a ``codes.issued`` entry commits to (serials in byte order)."""
    return root_from_leaf_hashes(serial_leaf_hashes(sorted_serials))


def serial_audit_path(leaf_hashes: Sequence[bytes], position: int) -> list[bytes]:
    """The audit path of the serial at ``position`` among a batch's sorted serials."""

    def read(nodes: list[tuple[int, int]]) -> list[bytes]:
        return [
            root_from_leaf_hashes(leaf_hashes[index << level : (index + 1) << level])
            for level, index in nodes
        ]

    return resolve_ranges(inclusion_ranges(position, len(leaf_hashes)), read)


@dataclass(frozen=True)
class ProvenCode:
    """What a valid proof establishes."""

    serial: str
    gtin: str
    batch: str
    entry: int  # the codes.issued entry
    tree_size: int  # the signed checkpoint that includes it
    checkpoint_origin: str


def _field(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedCodeProof(f"code proof: {name} must be a {kind.__name__}")
    return value


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise MalformedCodeProof(f"code proof: {what} must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCodeProof(f"code proof: {what} is not valid base64") from exc


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise MalformedCodeProof(f"code proof: {what} must be a list of base64 hashes")
    return [_b64(v, f"{what}[{i}]") for i, v in enumerate(values)]


def _issuing_payload(entry: dict[str, Any], gtin: str, batch: str) -> tuple[int, bytes, bytes]:
    """Check the entry is the batch's codes.issued; its index, leaf input and serials_root."""
    leaf_input = _b64(entry.get("leaf_input"), "entry.leaf_input")
    salt = _b64(entry.get("salt"), "entry.salt")
    payload = _b64(entry.get("payload"), "entry.payload")
    try:
        envelope = parse_envelope(leaf_input)
    except EnvelopeError as exc:
        raise CodeProofError(f"the issuing entry's envelope: {exc}") from exc
    if envelope.kind != ISSUED_KIND:
        raise CodeProofError(f"the issuing entry is a {envelope.kind}, not {ISSUED_KIND}")
    if envelope.subject != f"batch:{gtin}/{batch}":
        raise CodeProofError(
            f"the issuing entry is about {envelope.subject}, not batch:{gtin}/{batch}"
        )
    if payload_commitment(salt, payload) != base64.b64encode(envelope.payload_hash):
        raise CodeProofError("the issuing entry's payload does not match its payload_hash")
    try:
        fields = json.loads(payload)
    except ValueError as exc:
        raise CodeProofError("the issuing entry's payload is not JSON") from exc
    if not isinstance(fields, dict) or (fields.get("gtin"), fields.get("batch")) != (gtin, batch):
        raise CodeProofError("the issuing entry's payload names another batch")
    root = _b64(fields.get("serials_root"), "payload serials_root")
    return envelope.index, leaf_input, root


def verify_code_proof(
    doc: dict[str, Any], verifier: Verifier, origin: str | None = None
) -> ProvenCode:
    """Raise CodeProofError unless ``doc`` proves its serial was issued in a signed log."""
    if doc.get("format") != PROOF_FORMAT:
        raise MalformedCodeProof(f"code proof: format must be {PROOF_FORMAT!r}")
    serial = _field(doc, "serial", str)
    gtin = _field(doc, "gtin", str)
    batch = _field(doc, "batch", str)
    position = _field(doc, "serial_index", int)
    count = _field(doc, "serials_count", int)
    path = _hashes(doc.get("serial_path"), "serial_path")
    entry = _field(doc, "entry", dict)
    inclusion = _field(doc, "inclusion", dict)
    note = _field(doc, "checkpoint", str)

    index, leaf_input, root = _issuing_payload(entry, gtin, batch)
    if _field(doc, "serials_root", str) != base64.b64encode(root).decode():
        raise CodeProofError("serials_root differs from the one the issuing entry commits to")
    try:
        verify_inclusion(position, count, hash_leaf(serial.encode("ascii")), path, root)
    except (ProofError, UnicodeEncodeError) as exc:
        raise CodeProofError(f"serial {serial!r} is not among the batch's serials: {exc}") from exc

    try:
        checkpoint = open_checkpoint(note, verifier, origin)
    except CheckpointError as exc:
        raise CodeProofError(str(exc)) from exc
    if _field(inclusion, "leaf_index", int) != index:
        raise CodeProofError("the inclusion proof is for another entry")
    tree_size = _field(inclusion, "tree_size", int)
    if tree_size != checkpoint.size:
        raise CodeProofError(
            f"the inclusion proof is for tree size {tree_size}, the checkpoint is {checkpoint.size}"
        )
    audit_path = _hashes(inclusion.get("audit_path"), "inclusion.audit_path")
    try:
        verify_inclusion(index, tree_size, hash_leaf(leaf_input), audit_path, checkpoint.root)
    except ProofError as exc:
        raise CodeProofError(f"the issuing entry {index} is not in the log: {exc}") from exc
    return ProvenCode(serial, gtin, batch, index, tree_size, checkpoint.origin)
