"""Verify the log stored in a database, spreading entry checks over processes.

Worker processes run ``check_rows`` on chunks of entries (and the stored level-0
tiles beside them); the parent strings the chunks together in order, rebuilds
the tree, checks every stored checkpoint and the upper tiles, and the
redactions. The first bad entry in index order is the one reported.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine

from ledger.audit.verify import EntryVerifier, Run, VerificationError, VerifyReport, check_rows
from ledger.store import statements
from ledger.store.engine import create_db_engine, driver_connection, read_transaction
from ledger.store.identity import ORIGIN, identity, identity_conflict
from ledger.store.sql import for_dialect
from ledger.tlog.merkle import HASH_SIZE
from ledger.tlog.note import Verifier
from ledger.tlog.tiles import TILE_HEIGHT, GrowingTile

READ_CHUNK = 16_384  # a multiple of the tile width
PARALLEL_THRESHOLD = 200_000


class _ChunkReader:
    """Reads entries and stored level-0 tiles through the raw driver (the hot path)."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.entry_sql = for_dialect(dialect, statements.ENTRY_RANGE)
        self.tile_sql = for_dialect(dialect, statements.LEVEL0_TILE_RANGE)
        self.one_tile_sql = for_dialect(dialect, statements.TILE_AT)

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def stored_tile(self, tile_index: int) -> bytes | None:
        found = self._fetch(self.one_tile_sql, (0, tile_index))
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
    _worker_reader = _ChunkReader(engine.raw_connection().driver_connection, engine.dialect.name)


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
        meta = statements.read_meta(conn)
        conflict = identity_conflict(meta, identity(origin, verifier))
        if conflict == ORIGIN:
            raise VerificationError(f"database is the log {meta.get(ORIGIN)!r}, not {origin!r}")
        if conflict is not None:
            raise VerificationError(
                f"database's verifier key is {meta.get(conflict)!r}, not {verifier}"
            )
        checkpoints = [(c.size, c.root, c.note) for c in statements.all_checkpoints(conn)]
        final = checkpoints[-1][0] if checkpoints else 0
        reader = _ChunkReader(driver_connection(conn), engine.dialect.name)

        def check_upper_tile(level: int, index: int, tile: GrowingTile) -> None:
            if level == 0:
                return  # level 0 is compared entry by entry in check_rows
            stored = statements.tile_hashes(conn, level, index)
            _compare_upper(level, index, stored, tile.hashes)
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
        extra = statements.first_entry_from(conn, final)
        if extra is not None:
            raise VerificationError("entry is not covered by any signed checkpoint", extra)
        for level, index, tile in checker.builder.partial_tiles():
            if level == 0:
                continue  # compared exactly by check_rows
            _compare_upper(level, index, statements.tile_hashes(conn, level, index), tile.hashes)
            checker.report.tiles += 1
        stored_tiles = statements.tile_count(conn)
        if stored_tiles != checker.report.tiles:
            raise VerificationError(
                f"{stored_tiles} tiles stored, the entries make {checker.report.tiles}"
            )
        table = statements.all_redactions(conn)
        if table != checker.redactions:
            wrong = sorted(set(table.items()) ^ set(checker.redactions.items()))
            raise VerificationError(
                "redaction table disagrees with entry.redacted entries", wrong[0][0]
            )

        def redacted_later(indices: list[int]) -> set[int]:
            # Workers read outside this snapshot: a redaction committed since may show.
            with read_transaction(engine) as fresh:
                return statements.redacted_since(fresh, final) & set(indices)

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
