"""Verification of a whole log, as an auditor would do it.

``check_rows`` checks a run of consecutive entries (canonical envelope, index,
hash chain, payload commitment, and the stored level-0 tiles when there are
any); ``EntryVerifier`` strings runs together, rebuilds the tree with the same
tile builder any tlog client uses and checks checkpoints against the rebuilt
roots. The database verifier, the export importer and the remote verifier all
use them, so they agree on what "valid" means. This module needs no database
driver: an outside auditor runs it with the standard library and ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import IntegrityError
from ledger.tlog.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger.tlog.envelope import REDACTION_KIND, SALT_SIZE, ZERO_HASH, match_envelope
from ledger.tlog.merkle import HASH_SIZE
from ledger.tlog.note import Verifier
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, GrowingTile, TreeBuilder

_REDACTION_KIND = REDACTION_KIND.encode()  # compared with the matched envelope bytes

_sha256 = hashlib.sha256
_b64 = base64.b64encode


class VerificationError(IntegrityError):
    """The log is not what it claims; ``index`` is the first entry concerned, if any."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message if index is None else f"entry {index}: {message}")
        self.reason = message
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        return (VerificationError, (self.reason, self.index))


@dataclass
class VerifyReport:
    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    redacted: int = 0
    tiles: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "ok": True,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoints": self.checkpoints,
            "redacted": self.redacted,
            "tiles_checked": self.tiles,
            "seconds": round(self.seconds, 3),
            "entries_per_second": round(self.size / self.seconds) if self.seconds else None,
        }


Row = tuple[int, bytes, bytes | None, bytes | None]  # index, leaf input, salt, payload


@dataclass
class Run:
    """What checking a run of consecutive entries found."""

    start: int
    first_prev: bytes  # the prev field of the run's first entry (base64)
    hashes: bytes  # the entries' leaf hashes, concatenated
    redacted: list[int] = field(default_factory=list)  # entries whose payload is gone
    redactions: list[tuple[int, int]] = field(default_factory=list)  # (target, redacting entry)
    tiles: int = 0  # level-0 tiles compared with stored ones

    @property
    def end(self) -> int:
        return self.start + len(self.hashes) // HASH_SIZE

    @property
    def last_b64(self) -> bytes:
        return _b64(self.hashes[-HASH_SIZE:]) if self.hashes else self.first_prev


def _redaction_target(index: int, payload: bytes) -> int:
    try:
        target = json.loads(payload)["index"]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"{REDACTION_KIND} payload does not name an index", index) from exc
    if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < index:
        raise VerificationError(f"{REDACTION_KIND} names {target!r}, not an earlier entry", index)
    return target


def check_rows(
    rows: Sequence[Row],
    start: int,
    stored_level0: Callable[[int], bytes | None] | None = None,
    partial_may_grow: bool = False,
) -> Run:
    """Check consecutive entries from ``start``; links to earlier entries are the caller's.

    With ``stored_level0`` (tile index -> stored hashes) the stored leaf hashes
    are compared too, and a broken chain is blamed on the entry that changed.
    """
    expected = start
    first_prev = b""
    prev_b64 = b""
    hashes: list[bytes] = []
    run = Run(start, b"", b"")
    sha = _sha256
    b64 = _b64
    match = match_envelope
    for index, leaf_input, salt, payload in rows:
        if index != expected:
            raise VerificationError(
                f"expected entry {expected} next, got {index} (gap or duplicate)", expected
            )
        m = match(leaf_input)
        if m is None:
            raise VerificationError("leaf input is not a canonical version-1 envelope", index)
        if int(m["index"]) != index:
            raise VerificationError(
                f"envelope says index {m['index'].decode()}, stored at {index}", index
            )
        if index == start:
            first_prev = m["prev"]
        elif m["prev"] != prev_b64:
            if stored_level0 is not None:
                _blame_previous(index, prev_b64, stored_level0)
            raise VerificationError(
                f"hash chain broken: prev is {m['prev'].decode()}, expected {prev_b64.decode()}",
                index,
            )
        if payload is None:
            if salt is not None:
                raise VerificationError("payload is gone but its salt is still stored", index)
            run.redacted.append(index)
        else:
            if salt is None or len(salt) != SALT_SIZE:
                raise VerificationError(f"salt is missing or not {SALT_SIZE} bytes", index)
            commitment = b64(sha(salt + payload).digest())
            if commitment != m["payload_hash"]:
                raise VerificationError(
                    "payload does not match its commitment: envelope has "
                    f"{m['payload_hash'].decode()}, salt and payload give {commitment.decode()}",
                    index,
                )
            if m["kind"] == _REDACTION_KIND:
                run.redactions.append((_redaction_target(index, payload), index))
        if not leaf_input.isascii():
            try:
                leaf_input.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise VerificationError("leaf input is not UTF-8", index) from exc
        leaf_hash = sha(b"\x00" + leaf_input).digest()
        prev_b64 = b64(leaf_hash)
        hashes.append(leaf_hash)
        expected += 1
    run.first_prev = first_prev
    run.hashes = b"".join(hashes)
    if stored_level0 is not None and hashes:
        _compare_level0(run, stored_level0, partial_may_grow)
    return run


def _blame_previous(
    index: int, prev_b64: bytes, stored_level0: Callable[[int], bytes | None]
) -> None:
    tile = stored_level0((index - 1) >> TILE_HEIGHT)
    offset = ((index - 1) % TILE_WIDTH) * HASH_SIZE
    stored = tile[offset : offset + HASH_SIZE] if tile else None
    if stored is not None and stored != base64.b64decode(prev_b64):
        raise VerificationError(
            "envelope was altered: its leaf hash is not the one in the stored tree", index - 1
        )


def _compare_level0(run: Run, stored_level0: Callable[[int], bytes | None], may_grow: bool) -> None:
    first_tile = run.start >> TILE_HEIGHT
    last_tile = (run.end - 1) >> TILE_HEIGHT
    for tile_index in range(first_tile, last_tile + 1):
        lo = max(run.start, tile_index << TILE_HEIGHT)
        hi = min(run.end, (tile_index + 1) << TILE_HEIGHT)
        computed = run.hashes[(lo - run.start) * HASH_SIZE : (hi - run.start) * HASH_SIZE]
        stored = stored_level0(tile_index)
        offset = (lo % TILE_WIDTH) * HASH_SIZE
        got = None if stored is None else stored[offset : offset + len(computed)]
        complete = hi == (tile_index + 1) << TILE_HEIGHT
        exact = complete or not may_grow
        if got != computed or (
            exact and stored is not None and len(stored) != offset + len(computed)
        ):
            at = next(
                (
                    lo + pos // HASH_SIZE
                    for pos in range(0, len(computed), HASH_SIZE)
                    if got is None or got[pos : pos + HASH_SIZE] != computed[pos : pos + HASH_SIZE]
                ),
                hi - 1,
            )
            raise VerificationError(f"stored tile 0/{tile_index} differs from the entries", at)
        run.tiles += 1


@dataclass
class EntryVerifier:
    """Strings runs together in order, rebuilds the tree and checks checkpoints."""

    verifier: Verifier
    origin: str
    check_tile: Callable[[int, int, GrowingTile], None] | None = None
    builder: TreeBuilder = field(default_factory=TreeBuilder)
    prev_b64: bytes = field(default_factory=lambda: _b64(ZERO_HASH))
    redacted: set[int] = field(default_factory=set)  # entries with their payload gone
    redactions: dict[int, int] = field(default_factory=dict)  # target -> redacting entry
    report: VerifyReport = field(default_factory=VerifyReport)
    # Where the stored tree is at hand, a broken link is blamed on the entry that changed.
    stored_level0: Callable[[int], bytes | None] | None = None

    def __post_init__(self) -> None:
        if self.check_tile is not None:
            self.builder.on_full_tile = self.check_tile

    @property
    def size(self) -> int:
        return self.builder.size

    def add(self, rows: Sequence[Row]) -> None:
        if rows:
            self.absorb(check_rows(rows, self.builder.size))

    def absorb(self, run: Run, checkpoints: Sequence[tuple[int, bytes, str]] = ()) -> None:
        """Link a checked run to what came before; check checkpoints that fall inside it."""
        if run.start != self.builder.size:
            raise VerificationError("entry is missing", self.builder.size)
        if run.hashes and run.first_prev != self.prev_b64:
            if self.stored_level0 is not None:
                _blame_previous(run.start, self.prev_b64, self.stored_level0)
            raise VerificationError(
                f"hash chain broken: prev is {run.first_prev.decode()}, "
                f"expected {self.prev_b64.decode()}",
                run.start,
            )
        self.redacted.update(run.redacted)
        for target, index in run.redactions:
            if target in self.redactions:
                raise VerificationError(f"entry {target} is redacted twice", index)
            self.redactions[target] = index
        self.report.tiles += run.tiles
        position = run.start
        for size, root, note in checkpoints:
            if not run.start < size <= run.end:
                continue
            cut = (size - run.start) * HASH_SIZE
            self.builder.extend(run.hashes[(position - run.start) * HASH_SIZE : cut])
            position = size
            self.check_checkpoint(note, root)
        self.builder.extend(run.hashes[(position - run.start) * HASH_SIZE :])
        self.prev_b64 = run.last_b64

    def check_checkpoint(self, note: str, stored_root: bytes | None = None) -> Checkpoint:
        """The checkpoint must be signed, name this log and match the tree rebuilt so far."""
        size = self.builder.size
        try:
            checkpoint = open_checkpoint(note, self.verifier, self.origin)
        except CheckpointError as exc:
            raise VerificationError(
                f"checkpoint at size {size}: {exc}", size - 1 if size else None
            ) from exc
        if checkpoint.size != size:
            raise VerificationError(f"checkpoint is for size {checkpoint.size}, expected {size}")
        root = self.builder.root()
        if checkpoint.root != root:
            raise VerificationError(
                f"checkpoint at size {size} signs root {checkpoint.root.hex()}, "
                f"but the entries give {root.hex()}",
                size - 1,
            )
        if stored_root is not None and stored_root != root:
            raise VerificationError(
                f"checkpoint row at size {size} stores a different root", size - 1
            )
        self.report.checkpoints += 1
        return checkpoint

    def finish(self, redacted_later: Callable[[list[int]], set[int]] | None = None) -> VerifyReport:
        """Every missing payload must be explained by a redaction entry, and vice versa.

        ``redacted_later`` names, among payloads found missing, those that a
        redaction appended after the verified size explains (a live log).
        """
        unexplained = sorted(self.redacted - self.redactions.keys())
        if unexplained and redacted_later is not None:
            explained = redacted_later(unexplained)
            unexplained = [i for i in unexplained if i not in explained]
        if unexplained:
            raise VerificationError(
                f"payload is missing but no {REDACTION_KIND} names it", unexplained[0]
            )
        not_done = sorted(self.redactions.keys() - self.redacted)
        if not_done:
            raise VerificationError(
                f"entry {self.redactions[not_done[0]]} redacts it but its payload is still stored",
                not_done[0],
            )
        self.report.size = self.builder.size
        self.report.root = self.builder.root()
        self.report.redacted = len(self.redacted)
        return self.report
