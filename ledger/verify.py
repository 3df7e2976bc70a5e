"""Verification of a whole log, as an auditor would do it.

``EntryVerifier`` checks entries strictly in order (canonical envelope, index,
hash chain, payload commitment) and rebuilds the tree with the same tile
builder any tlog client uses; checkpoints are checked against the rebuilt
roots at their sizes. The local database verifier, the export importer and
the remote verifier all drive it, so they agree on what "valid" means.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger.db import read_transaction
from ledger.envelope import ZERO_HASH, match_envelope
from ledger.merkle import HASH_SIZE
from ledger.note import Verifier
from ledger.tiles import TILE_HEIGHT, TILE_WIDTH, GrowingTile, TreeBuilder

REDACTION_KIND = b"entry.redacted"
READ_CHUNK = 20_000

_sha256 = hashlib.sha256
_b64 = base64.b64encode


class VerificationError(Exception):
    """The log is not what it claims; ``index`` is the first entry concerned, if any."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message if index is None else f"entry {index}: {message}")
        self.index = index


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
class EntryVerifier:
    """Feeds entries in order; raises VerificationError at the first thing that is wrong."""

    verifier: Verifier
    origin: str
    check_tile: Callable[[int, int, GrowingTile], None] | None = None
    # Where the stored tree is at hand, a broken chain is pinned on the entry that changed.
    stored_leaf_hash: Callable[[int], bytes | None] | None = None
    builder: TreeBuilder = field(default_factory=TreeBuilder)
    prev_b64: bytes = field(default_factory=lambda: _b64(ZERO_HASH))
    redacted: set[int] = field(default_factory=set)  # entries with their payload gone
    redactions: dict[int, int] = field(default_factory=dict)  # target -> redacting entry
    report: VerifyReport = field(default_factory=VerifyReport)

    def __post_init__(self) -> None:
        if self.check_tile is not None:
            self.builder.on_full_tile = self.check_tile

    @property
    def size(self) -> int:
        return self.builder.size

    def add(self, rows: Iterable[Row]) -> None:
        expected = self.builder.size
        prev_b64 = self.prev_b64
        hashes: list[bytes] = []
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
            if m["prev"] != prev_b64:
                self._blame_previous(index, prev_b64)
                raise VerificationError(
                    f"hash chain broken: prev is {m['prev'].decode()}, "
                    f"expected {prev_b64.decode()}",
                    index,
                )
            if payload is None:
                if salt is not None:
                    raise VerificationError("payload is gone but its salt is still stored", index)
                self.redacted.add(index)
            else:
                if salt is None or len(salt) != 16:
                    raise VerificationError("salt is missing or not 16 bytes", index)
                commitment = b64(sha(salt + payload).digest())
                if commitment != m["payload_hash"]:
                    raise VerificationError(
                        "payload does not match its commitment: envelope has "
                        f"{m['payload_hash'].decode()}, "
                        f"stored salt and payload give {commitment.decode()}",
                        index,
                    )
                if m["kind"] == REDACTION_KIND:
                    self._note_redaction(index, payload)
            try:
                leaf_input.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise VerificationError("leaf input is not UTF-8", index) from exc
            leaf_hash = sha(b"\x00" + leaf_input).digest()
            prev_b64 = b64(leaf_hash)
            hashes.append(leaf_hash)
            expected += 1
        self.prev_b64 = prev_b64
        self.builder.extend(b"".join(hashes))

    def _blame_previous(self, index: int, prev_b64: bytes) -> None:
        if index == 0 or self.stored_leaf_hash is None:
            return
        stored = self.stored_leaf_hash(index - 1)
        if stored is not None and stored != base64.b64decode(prev_b64):
            raise VerificationError(
                "envelope was altered: its leaf hash is not the one in the stored tree", index - 1
            )

    def _note_redaction(self, index: int, payload: bytes) -> None:
        try:
            target = json.loads(payload)["index"]
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationError("entry.redacted payload does not name an index", index) from exc
        if not isinstance(target, int) or not 0 <= target < index:
            raise VerificationError(f"entry.redacted names {target!r}, not an earlier entry", index)
        if target in self.redactions:
            raise VerificationError(f"entry {target} is redacted twice", index)
        self.redactions[target] = index

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

    def finish(self) -> VerifyReport:
        """Every missing payload must be explained by a redaction entry, and vice versa."""
        unexplained = sorted(self.redacted - self.redactions.keys())
        if unexplained:
            raise VerificationError(
                "payload is missing but no entry.redacted names it", unexplained[0]
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


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def first_tile_difference(level: int, index: int, stored: bytes | None, computed: bytes) -> int:
    """The first entry index under the first hash where a stored tile differs."""
    if stored is None:
        return index << (TILE_HEIGHT * (level + 1))
    for pos in range(0, max(len(stored), len(computed)), HASH_SIZE):
        if stored[pos : pos + HASH_SIZE] != computed[pos : pos + HASH_SIZE]:
            return ((index << TILE_HEIGHT) + pos // HASH_SIZE) << (TILE_HEIGHT * level)
    return index << (TILE_HEIGHT * (level + 1))


def verify_database(
    engine: Engine,
    verifier: Verifier,
    origin: str,
    progress: Callable[[int], object] | None = None,
) -> VerifyReport:
    """Verify everything stored: entries, chain, tiles, every checkpoint, redactions."""
    started = time.perf_counter()
    with read_transaction(engine) as conn:
        q = _placeholder(conn)
        meta: dict[str, str] = dict(
            conn.exec_driver_sql("SELECT key, value FROM ledger_meta").all()
        )
        if meta and meta.get("origin") != origin:
            raise VerificationError(f"database is the log {meta.get('origin')!r}, not {origin!r}")
        if meta and meta.get("verifier_key") != str(verifier):
            raise VerificationError(
                f"database's verifier key is {meta.get('verifier_key')!r}, not {verifier}"
            )
        checkpoints = [
            (int(size), bytes(root), note)
            for size, root, note in conn.exec_driver_sql(
                "SELECT size, root, note FROM ledger_checkpoints ORDER BY size"
            )
        ]
        tile_sql = f"SELECT hashes FROM ledger_tiles WHERE level = {q} AND idx = {q}"

        def check_tile(level: int, index: int, tile: GrowingTile) -> None:
            row = conn.exec_driver_sql(tile_sql, (level, index)).first()
            stored = bytes(row[0]) if row else None
            if stored != tile.hashes:
                at = first_tile_difference(level, index, stored, tile.hashes)
                raise VerificationError(f"stored tile {level}/{index} differs from the entries", at)
            checker.report.tiles += 1

        def stored_leaf_hash(index: int) -> bytes | None:
            row = conn.exec_driver_sql(tile_sql, (0, index >> TILE_HEIGHT)).first()
            offset = (index % TILE_WIDTH) * HASH_SIZE
            return bytes(row[0])[offset : offset + HASH_SIZE] if row else None

        checker = EntryVerifier(verifier, origin, check_tile, stored_leaf_hash)
        final = checkpoints[-1][0] if checkpoints else 0
        entry_sql = (
            "SELECT idx, leaf_input, salt, payload FROM ledger_entries "
            f"WHERE idx >= {q} AND idx < {q} ORDER BY idx"
        )
        position = 0
        for size, root, note in checkpoints:
            while position < size:
                end = min(size, position + READ_CHUNK)
                rows = conn.exec_driver_sql(entry_sql, (position, end)).all()
                checker.add(
                    (
                        r[0],
                        bytes(r[1]),
                        None if r[2] is None else bytes(r[2]),
                        None if r[3] is None else bytes(r[3]),
                    )
                    for r in rows
                )
                if checker.size != end:
                    raise VerificationError("entry is missing", checker.size)
                if progress:
                    progress(end - position)
                position = end
            checker.check_checkpoint(note, root)
        extra = conn.exec_driver_sql(
            f"SELECT min(idx) FROM ledger_entries WHERE idx >= {q}", (final,)
        ).scalar()
        if extra is not None:
            raise VerificationError("entry is not covered by any signed checkpoint", int(extra))
        for level, index, tile in checker.builder.partial_tiles():
            check_tile(level, index, tile)
        expected_tiles = checker.report.tiles
        stored_tiles = conn.exec_driver_sql("SELECT count(*) FROM ledger_tiles").scalar()
        if stored_tiles != expected_tiles:
            raise VerificationError(
                f"{stored_tiles} tiles stored, the entries make {expected_tiles}"
            )
        table = dict(
            (int(t), int(e))
            for t, e in conn.exec_driver_sql("SELECT target, entry FROM ledger_redactions")
        )
        if table != checker.redactions:
            wrong = sorted(set(table.items()) ^ set(checker.redactions.items()))
            raise VerificationError(
                "redaction table disagrees with entry.redacted entries", wrong[0][0]
            )
        report = checker.finish()
    report.seconds = time.perf_counter() - started
    return report
