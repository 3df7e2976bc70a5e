"""Export a whole log to a JSON-lines file and import it elsewhere, re-verified.

Format: a header line, then every entry in order, each signed checkpoint right
after the entry that completes its size::

    {"format":"credtrace-ledger","version":1,"origin":...,"verifier_key":...,"size":N}
    {"index":0,"leaf_input":"<b64>","salt":"<b64>|null","payload":"<b64>|null"}
    {"checkpoint":"<signed note>"}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from sqlalchemy import Engine

from ledger.audit.verify import EntryVerifier, VerificationError, VerifyReport
from ledger.store.dbverify import READ_CHUNK
from ledger.store.engine import read_transaction, write_transaction
from ledger.store.log import Ledger, LedgerError, _ph
from ledger.tlog.note import NoteError, Verifier
from ledger.tlog.tiles import GrowingTile

FORMAT = "credtrace-ledger"
VERSION = 1


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def export_log(
    engine: Engine, out: IO[str], progress: Callable[[int], object] | None = None
) -> int:
    """Write the log as of one consistent snapshot; returns the number of entries."""
    with read_transaction(engine) as conn:
        meta: dict[str, str] = dict(
            conn.exec_driver_sql("SELECT key, value FROM ledger_meta").all()
        )
        checkpoints = conn.exec_driver_sql(
            "SELECT size, note FROM ledger_checkpoints ORDER BY size"
        ).all()
        size = checkpoints[-1][0] if checkpoints else 0
        header = {
            "format": FORMAT,
            "version": VERSION,
            "origin": meta.get("origin"),
            "verifier_key": meta.get("verifier_key"),
            "size": size,
        }
        out.write(json.dumps(header) + "\n")
        sql = _ph(
            conn,
            "SELECT idx, leaf_input, salt, payload FROM ledger_entries "
            "WHERE idx >= ? AND idx < ? ORDER BY idx",
        )
        position = 0
        for cp_size, note in checkpoints:
            while position < cp_size:
                end = min(cp_size, position + READ_CHUNK)
                for idx, leaf_input, salt, payload in conn.exec_driver_sql(sql, (position, end)):
                    line = {
                        "index": idx,
                        "leaf_input": _b64(bytes(leaf_input)),
                        "salt": _b64(None if salt is None else bytes(salt)),
                        "payload": _b64(None if payload is None else bytes(payload)),
                    }
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
                if progress:
                    progress(end - position)
                position = end
            out.write(json.dumps({"checkpoint": note}) + "\n")
    return int(size)


class ExportFileError(LedgerError):
    """The export file is malformed or does not verify; nothing was imported."""


def _decode(value: Any, what: str, line_no: int, nullable: bool = False) -> bytes | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ExportFileError(f"line {line_no}: {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExportFileError(f"line {line_no}: {what} is not valid base64") from exc


def _lines(source: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ExportFileError(f"line {line_no}: not JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise ExportFileError(f"line {line_no}: expected a JSON object")
        yield line_no, value


def import_log(
    ledger: Ledger, source: IO[str], progress: Callable[[int], object] | None = None
) -> VerifyReport:
    """Verify an export completely and store it into this (empty) log, all or nothing."""
    lines = _lines(source)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ExportFileError("the file is empty") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ExportFileError(f"line 1: not a {FORMAT} version {VERSION} export")
    try:
        verifier = Verifier.parse(str(header.get("verifier_key")))
    except NoteError as exc:
        raise ExportFileError(f"line 1: verifier_key: {exc}") from exc
    origin = header.get("origin")
    if origin != ledger.origin or str(verifier) != str(ledger.verifier):
        raise ExportFileError(
            f"the export is the log {origin!r} with key {verifier}; this instance is "
            f"{ledger.origin!r} with key {ledger.verifier}. Import needs the same identity."
        )
    with write_transaction(ledger.engine) as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM ledger_checkpoints").scalar():
            raise ExportFileError("this log is not empty; import only restores into an empty log")
        tiles: list[tuple[int, int, bytes]] = []

        def keep_tile(level: int, index: int, tile: GrowingTile) -> None:
            tiles.append((level, index, tile.hashes))

        checker = EntryVerifier(verifier, ledger.origin, keep_tile)
        rows: list[tuple[int, bytes, bytes | None, bytes | None]] = []
        checkpoints = 0

        def flush() -> None:
            if not rows:
                return
            try:
                checker.add(rows)
            except VerificationError as exc:
                raise ExportFileError(f"verification failed: {exc}") from exc
            ledger._insert_entries(conn, rows)
            if tiles:
                conn.exec_driver_sql(
                    _ph(conn, "INSERT INTO ledger_tiles (level, idx, hashes) VALUES (?, ?, ?)"),
                    tiles,
                )
                tiles.clear()
            if progress:
                progress(len(rows))
            rows.clear()

        for line_no, value in lines:
            if "checkpoint" in value:
                flush()
                note = value["checkpoint"]
                if not isinstance(note, str):
                    raise ExportFileError(f"line {line_no}: checkpoint must be a string")
                try:
                    checkpoint = checker.check_checkpoint(note)
                except VerificationError as exc:
                    raise ExportFileError(f"line {line_no}: {exc}") from exc
                conn.exec_driver_sql(
                    _ph(conn, "INSERT INTO ledger_checkpoints (size, root, note) VALUES (?, ?, ?)"),
                    (checkpoint.size, checkpoint.root, note),
                )
                checkpoints += 1
                continue
            index = value.get("index")
            if not isinstance(index, int):
                raise ExportFileError(f"line {line_no}: index must be an integer")
            leaf_input = _decode(value.get("leaf_input"), "leaf_input", line_no)
            assert leaf_input is not None
            rows.append(
                (
                    index,
                    leaf_input,
                    _decode(value.get("salt"), "salt", line_no, nullable=True),
                    _decode(value.get("payload"), "payload", line_no, nullable=True),
                )
            )
            if len(rows) >= READ_CHUNK:
                flush()
        if rows:
            raise ExportFileError(
                f"the last {len(rows)} entries are not covered by a signed checkpoint"
            )
        if checker.size != header.get("size"):
            raise ExportFileError(
                f"header says {header.get('size')} entries, the file holds {checker.size}"
            )
        partials = [
            (level, index, tile.hashes) for level, index, tile in checker.builder.partial_tiles()
        ]
        if partials:
            conn.exec_driver_sql(
                _ph(conn, "INSERT INTO ledger_tiles (level, idx, hashes) VALUES (?, ?, ?)"),
                partials,
            )
        if checker.redactions:
            conn.exec_driver_sql(
                _ph(conn, "INSERT INTO ledger_redactions (target, entry) VALUES (?, ?)"),
                sorted(checker.redactions.items()),
            )
        try:
            report = checker.finish()
        except VerificationError as exc:
            raise ExportFileError(f"verification failed: {exc}") from exc
    ledger.reset()
    return report
