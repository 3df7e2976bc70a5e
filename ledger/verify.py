"""Verification of a whole log, as an auditor would do it.

``check_rows`` checks a run of consecutive entries (canonical envelope, index,
hash chain, payload commitment, and the stored level-0 tiles when there are
any); ``EntryVerifier`` strings runs together, rebuilds the tree with the same
tile builder any tlog client uses and checks checkpoints against the rebuilt
roots. The database verifier, the export importer and the remote verifier all
use them, so they agree on what "valid" means. The database verifier spreads
``check_rows`` over worker processes; the tree is rebuilt in order by the parent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger.db import create_db_engine, driver_connection, read_transaction
from ledger.envelope import ZERO_HASH, match_envelope
from ledger.merkle import HASH_SIZE
from ledger.note import Verifier
from ledger.tiles import TILE_HEIGHT, TILE_WIDTH, GrowingTile, TreeBuilder

REDACTION_KIND = b"entry.redacted"
READ_CHUNK = 16_384  # a multiple of the tile width
PARALLEL_THRESHOLD = 200_000

_sha256 = hashlib.sha256
_b64 = base64.b64encode


class VerificationError(Exception):
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
        raise VerificationError("entry.redacted payload does not name an index", index) from exc
    if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < index:
        raise VerificationError(f"entry.redacted names {target!r}, not an earlier entry", index)
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
            if salt is None or len(salt) != 16:
                raise VerificationError("salt is missing or not 16 bytes", index)
            commitment = b64(sha(salt + payload).digest())
            if commitment != m["payload_hash"]:
                raise VerificationError(
                    "payload does not match its commitment: envelope has "
                    f"{m['payload_hash'].decode()}, salt and payload give {commitment.decode()}",
                    index,
                )
            if m["kind"] == REDACTION_KIND:
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


# --- the database verifier -------------------------------------------------------


def _placeholder(conn: Any) -> str:
    return "?" if type(conn).__module__.startswith("sqlite3") else "%s"


class _ChunkReader:
    """Reads entries and stored level-0 tiles through the raw driver (the hot path)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        q = _placeholder(raw)
        self.entry_sql = (
            "SELECT idx, leaf_input, salt, payload FROM ledger_entries "
            f"WHERE idx >= {q} AND idx < {q} ORDER BY idx"
        )
        self.tile_sql = (
            f"SELECT idx, hashes FROM ledger_tiles WHERE level = 0 AND idx >= {q} AND idx <= {q}"
        )
        self.one_tile_sql = f"SELECT hashes FROM ledger_tiles WHERE level = 0 AND idx = {q}"

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def stored_tile(self, tile_index: int) -> bytes | None:
        found = self._fetch(self.one_tile_sql, (tile_index,))
        return bytes(found[0][0]) if found else None

    def check(self, start: int, end: int, final: int) -> Run:
        rows = self._fetch(self.entry_sql, (start, end))
        if rows and not isinstance(rows[0][1], bytes):  # drivers may hand out memoryviews
            rows = [(r[0], bytes(r[1]), _opt_bytes(r[2]), _opt_bytes(r[3])) for r in rows]
        tiles = {
            int(i): bytes(h)
            for i, h in self._fetch(self.tile_sql, (start >> TILE_HEIGHT, (end - 1) >> TILE_HEIGHT))
        }

        def stored(tile_index: int) -> bytes | None:
            return tiles[tile_index] if tile_index in tiles else self.stored_tile(tile_index)

        run = check_rows(rows, start, stored, partial_may_grow=end == final)
        if run.end != end:
            raise VerificationError("entry is missing", run.end)
        return run


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


_worker_reader: _ChunkReader | None = None


def _worker_init(url: str) -> None:
    global _worker_reader  # noqa: PLW0603 - one connection per worker process
    engine = create_db_engine(url)
    _worker_reader = _ChunkReader(engine.raw_connection().driver_connection)


def _worker_check(task: tuple[int, int, int]) -> Run | VerificationError:
    assert _worker_reader is not None
    try:
        return _worker_reader.check(*task)
    except VerificationError as exc:
        return exc


def _chunks(final: int, size: int) -> list[tuple[int, int, int]]:
    return [(start, min(final, start + size), final) for start in range(0, final, size)]


def verify_database(
    engine: Engine,
    verifier: Verifier,
    origin: str,
    *,
    progress: Callable[[int], object] | None = None,
    workers: int | None = None,
    chunk: int = READ_CHUNK,
) -> VerifyReport:
    """Verify everything stored: entries, chain, tiles, every checkpoint, redactions.

    ``workers`` processes check entries in parallel (default: one per CPU for
    logs above PARALLEL_THRESHOLD entries, otherwise in this process).
    """
    started = time.perf_counter()
    with read_transaction(engine) as conn:
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
        final = checkpoints[-1][0] if checkpoints else 0
        reader = _ChunkReader(driver_connection(conn))
        q = _placeholder(reader.raw)

        def check_upper_tile(level: int, index: int, tile: GrowingTile) -> None:
            if level == 0:
                return  # level 0 is compared entry by entry in check_rows
            row = conn.exec_driver_sql(
                f"SELECT hashes FROM ledger_tiles WHERE level = {q} AND idx = {q}", (level, index)
            ).first()
            _compare_upper(level, index, None if row is None else bytes(row[0]), tile.hashes)
            checker.report.tiles += 1

        checker = EntryVerifier(verifier, origin, check_upper_tile)
        checker.stored_level0 = reader.stored_tile
        if workers is None:
            workers = (os.cpu_count() or 1) if final >= PARALLEL_THRESHOLD else 1
        for run in _runs(engine, reader, final, chunk, workers):
            checker.absorb(run, checkpoints)
            if progress:
                progress(run.end - run.start)
        if checker.size != final:
            raise VerificationError("entry is missing", checker.size)
        if checker.report.checkpoints != len(checkpoints):
            raise VerificationError("a stored checkpoint is not at an entry boundary")
        extra = conn.exec_driver_sql(
            f"SELECT min(idx) FROM ledger_entries WHERE idx >= {q}", (final,)
        ).scalar()
        if extra is not None:
            raise VerificationError("entry is not covered by any signed checkpoint", int(extra))
        for level, index, tile in checker.builder.partial_tiles():
            if level == 0:
                continue  # compared exactly by check_rows
            row = conn.exec_driver_sql(
                f"SELECT hashes FROM ledger_tiles WHERE level = {q} AND idx = {q}", (level, index)
            ).first()
            _compare_upper(level, index, None if row is None else bytes(row[0]), tile.hashes)
            checker.report.tiles += 1
        stored_tiles = conn.exec_driver_sql("SELECT count(*) FROM ledger_tiles").scalar()
        if stored_tiles != checker.report.tiles:
            raise VerificationError(
                f"{stored_tiles} tiles stored, the entries make {checker.report.tiles}"
            )
        table = {
            int(t): int(e)
            for t, e in conn.exec_driver_sql("SELECT target, entry FROM ledger_redactions")
        }
        if table != checker.redactions:
            wrong = sorted(set(table.items()) ^ set(checker.redactions.items()))
            raise VerificationError(
                "redaction table disagrees with entry.redacted entries", wrong[0][0]
            )

        def redacted_later(indices: list[int]) -> set[int]:
            # Workers read outside this snapshot: a redaction committed since may show.
            with read_transaction(engine) as fresh:
                rows = fresh.exec_driver_sql(
                    f"SELECT target FROM ledger_redactions WHERE entry >= {q}", (final,)
                ).all()
            return {int(r[0]) for r in rows} & set(indices)

        report = checker.finish(redacted_later)
    report.seconds = time.perf_counter() - started
    return report


def _compare_upper(level: int, index: int, stored: bytes | None, computed: bytes) -> None:
    if stored != computed:
        at = index << (TILE_HEIGHT * (level + 1))
        if stored is not None:
            for pos in range(0, max(len(stored), len(computed)), HASH_SIZE):
                if stored[pos : pos + HASH_SIZE] != computed[pos : pos + HASH_SIZE]:
                    at = ((index << TILE_HEIGHT) + pos // HASH_SIZE) << (TILE_HEIGHT * level)
                    break
        raise VerificationError(f"stored tile {level}/{index} differs from the entries", at)


def _runs(
    engine: Engine, reader: _ChunkReader, final: int, chunk: int, workers: int
) -> Iterator[Run]:
    """Checked runs in index order, from this process or from a pool of workers."""
    tasks = _chunks(final, chunk)
    if workers <= 1 or len(tasks) < 2:
        for task in tasks:
            yield reader.check(*task)
        return
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_worker_init, initargs=(url,)) as pool:
        for result in pool.imap(_worker_check, tasks):
            if isinstance(result, VerificationError):
                pool.terminate()
                raise result
            yield result
