"""Export a whole log to a JSON-lines file and import it elsewhere, re-verified.

Format (version 3): a header line, then every entry in order, each signed checkpoint right
after the entry that completes its size, then the request keys (``Idempotency-Key``s) the
entries were appended under, so that a retry after a restore still returns the first
entry, then the rows of each attachment (data the log commits to without holding it,
such as the traceability codes' serials, under its tag)::

    {"format":"credtrace-ledger","version":3,"origin":...,"verifier_key":...,"size":N,
     "request_keys":K,"attachments":{"code":C}}
    {"index":0,"leaf_input":"<b64>","salt":"<b64>|null","payload":"<b64>|null"}
    {"checkpoint":"<signed note>"}
    {"request_key":"<api key id>:<Idempotency-Key>","index":I,"request_hash":"<b64>"}
    {"code":{...}}

Version 2 files (no attachments) and version 1 files (no request keys either) still
import; a version 1 file's retries are not recognised. Projections are derived from the
log (``on_entries``); API keys are not part of an export.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Protocol

from sqlalchemy import Connection, Engine

from ledger.audit.verify import EntryVerifier, VerificationError, VerifyReport
from ledger.errors import InvalidInput
from ledger.store import statements
from ledger.store.dbverify import READ_CHUNK
from ledger.store.engine import read_transaction, write_transaction
from ledger.store.entries import SignedCheckpoint, request_hash
from ledger.store.log import Ledger
from ledger.tlog.envelope import match_envelope
from ledger.tlog.note import NoteError, Verifier
from ledger.tlog.tiles import GrowingTile

FORMAT = "credtrace-ledger"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
REQUEST_KEYS_FROM = 2  # the first version that carries request keys
ATTACHMENTS_FROM = 3  # the first version that carries attachments
RESERVED_KEYS = frozenset({"index", "checkpoint", "request_key"})  # the log's own lines

StoredRow = tuple[int, bytes, bytes | None, bytes | None]
"""An entry as stored: index, leaf input, salt, payload (salt and payload None if redacted)."""

OnEntries = Callable[[Connection, Sequence[StoredRow]], object]
"""Called with each chunk of entries once stored, in the import's transaction."""

RequestKey = tuple[str, int, bytes]
KEY_CHUNK = 500  # request keys checked per query


class Attachment(Protocol):
    """Rows kept beside the log that its entries commit to without holding them (the
    serials under a ``codes.issued`` root). An export writes them after the log; an
    import hands each to ``add`` once the log and its projections are stored, and
    ``finish`` at the end: both raise InvalidInput for a row the restored log does not
    commit to, and then nothing at all is imported."""

    tag: str

    def count(self, conn: Connection, size: int) -> int: ...
    def rows(self, conn: Connection, size: int) -> Iterator[dict[str, Any]]: ...
    def add(self, conn: Connection, row: Any) -> None: ...
    def finish(self, conn: Connection) -> None: ...


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def export_log(
    engine: Engine,
    out: IO[str],
    progress: Callable[[int], object] | None = None,
    attachments: Sequence[Attachment] = (),
) -> int:
    """Write the log (and ``attachments``) as of one consistent snapshot; returns the
    number of entries."""
    with read_transaction(engine) as conn:
        meta = statements.read_meta(conn)
        checkpoints = statements.all_checkpoints(conn)
        size = checkpoints[-1].size if checkpoints else 0
        request_keys = statements.request_keys_below(conn, size)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "origin": meta.get("origin"),
            "verifier_key": meta.get("verifier_key"),
            "size": size,
            "request_keys": len(request_keys),
            "attachments": {a.tag: a.count(conn, size) for a in attachments},
        }
        out.write(json.dumps(header) + "\n")
        position = 0
        for checkpoint in checkpoints:
            while position < checkpoint.size:
                end = min(checkpoint.size, position + READ_CHUNK)
                for entry in statements.entry_range(conn, position, end):
                    line = {
                        "index": entry.index,
                        "leaf_input": _b64(entry.leaf_input),
                        "salt": _b64(entry.salt),
                        "payload": _b64(entry.payload),
                    }
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
                if progress:
                    progress(end - position)
                position = end
            out.write(json.dumps({"checkpoint": checkpoint.note}) + "\n")
        for request_key, idx, request_hash in request_keys:
            line = {"request_key": request_key, "index": idx, "request_hash": _b64(request_hash)}
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
        for attachment in attachments:
            for row in attachment.rows(conn, size):
                out.write(json.dumps({attachment.tag: row}, separators=(",", ":")) + "\n")
    return size


class ExportFileError(InvalidInput):
    """The export file is malformed or does not verify; nothing was imported."""


def _announced_attachments(header: dict[str, Any], version: Any) -> dict[str, int]:
    """The attachment row counts a header announces (none before version 3)."""
    if version < ATTACHMENTS_FROM:
        return {}
    announced = header.get("attachments")
    if not isinstance(announced, dict) or not all(
        isinstance(tag, str) and isinstance(n, int) and n >= 0 for tag, n in announced.items()
    ):
        raise ExportFileError("line 1: attachments must map each tag to its row count")
    return announced


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


def _request_key(value: dict[str, Any], line_no: int) -> RequestKey:
    key, index = value.get("request_key"), value.get("index")
    if not isinstance(key, str) or not key:
        raise ExportFileError(f"line {line_no}: request_key must be a non-empty string")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ExportFileError(f"line {line_no}: index must be an entry index")
    request_hash = _decode(value.get("request_hash"), "request_hash", line_no)
    assert request_hash is not None
    return key, index, request_hash


def _check_request_keys(conn: Connection, keys: Sequence[RequestKey], size: int) -> None:
    """Each key names an entry of the log and, unless redacted, the record it was for."""
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        for key, index, _ in chunk:
            if index >= size:
                raise ExportFileError(f"request key {key!r} names entry {index}, past the log")
        stored = statements.envelopes_and_payloads(conn, sorted({i for _, i, _ in chunk}))
        for key, index, hashed in chunk:
            leaf_input, payload = stored[index]
            if payload is None:
                continue  # redacted: the record it was for is gone, the key still holds
            envelope = match_envelope(leaf_input)
            assert envelope is not None  # the verifier parsed every envelope already
            if request_hash(envelope["kind"].decode(), payload) != hashed:
                raise ExportFileError(f"request key {key!r} was not made for entry {index}")


def import_log(
    ledger: Ledger,
    source: IO[str],
    progress: Callable[[int], object] | None = None,
    on_entries: OnEntries | None = None,
    attachments: Sequence[Attachment] = (),
) -> VerifyReport:
    """Verify an export completely and store it into this (empty) log, all or nothing.

    ``on_entries`` sees every chunk of entries right after it is stored, in the same
    transaction (the projections are rebuilt there), so a failure anywhere, in the
    file or in the callback, leaves nothing written. Rows of ``attachments`` are checked
    and stored in that transaction too; a file carrying rows of an attachment that is
    not given is refused rather than restored without them.
    """
    lines = _lines(source)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ExportFileError("the file is empty") from None
    version = header.get("version")
    if header.get("format") != FORMAT or version not in READABLE_VERSIONS:
        raise ExportFileError(
            f"line 1: not a {FORMAT} export of version " + " or ".join(map(str, READABLE_VERSIONS))
        )
    carries_keys = version >= REQUEST_KEYS_FROM
    by_tag = {a.tag: a for a in attachments}
    assert not by_tag.keys() & RESERVED_KEYS, "an attachment tag is a key of the log's lines"
    announced = _announced_attachments(header, version)
    unknown = sorted(tag for tag, count in announced.items() if count and tag not in by_tag)
    if unknown:
        raise ExportFileError(
            f"line 1: the file carries {', '.join(unknown)} rows, which this import cannot "
            "restore: nothing was imported"
        )
    attached = dict.fromkeys(announced, 0)
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
        if statements.has_checkpoints(conn):
            raise ExportFileError("this log is not empty; import only restores into an empty log")
        tiles: list[tuple[int, int, bytes]] = []

        def keep_tile(level: int, index: int, tile: GrowingTile) -> None:
            tiles.append((level, index, tile.hashes))

        checker = EntryVerifier(verifier, ledger.origin, keep_tile)
        rows: list[StoredRow] = []
        request_keys: list[RequestKey] = []
        checkpoints = 0

        def flush() -> None:
            if not rows:
                return
            try:
                checker.add(rows)
            except VerificationError as exc:
                raise ExportFileError(f"verification failed: {exc}") from exc
            statements.insert_entries(conn, rows)
            if tiles:
                statements.insert_tiles(conn, tiles)
                tiles.clear()
            if on_entries:
                on_entries(conn, rows)
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
                statements.insert_checkpoint(
                    conn, SignedCheckpoint(checkpoint.size, checkpoint.root, note)
                )
                checkpoints += 1
                continue
            tag = next(iter(value)) if len(value) == 1 else None
            if tag is not None and tag in by_tag and tag in announced:
                try:
                    by_tag[tag].add(conn, value[tag])
                except InvalidInput as exc:
                    raise ExportFileError(f"line {line_no}: {tag}: {exc}") from exc
                attached[tag] += 1
                continue
            if "request_key" in value:
                if not carries_keys:
                    raise ExportFileError(f"line {line_no}: a version {version} file has no keys")
                request_keys.append(_request_key(value, line_no))
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
            statements.insert_tiles(conn, partials)
        if checker.redactions:
            statements.insert_redactions(conn, sorted(checker.redactions.items()))
        if carries_keys and header.get("request_keys") != len(request_keys):
            raise ExportFileError(
                f"header says {header.get('request_keys')} request keys, "
                f"the file holds {len(request_keys)}"
            )
        if len({key for key, _, _ in request_keys}) != len(request_keys):
            raise ExportFileError("a request key is listed twice")
        _check_request_keys(conn, request_keys, checker.size)
        if request_keys:
            statements.insert_request_keys(conn, request_keys)
        for tag, count in attached.items():
            if count != announced[tag]:
                raise ExportFileError(
                    f"header says {announced[tag]} {tag} rows, the file holds {count}"
                )
            if tag in by_tag:
                try:
                    by_tag[tag].finish(conn)
                except InvalidInput as exc:
                    raise ExportFileError(f"{tag}: {exc}") from exc
        try:
            report = checker.finish()
        except VerificationError as exc:
            raise ExportFileError(f"verification failed: {exc}") from exc
    ledger.reset()
    return report
