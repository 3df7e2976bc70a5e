"""Verify a live log over HTTP, using nothing but this package and the standard library.

The auditor downloads every entry, rebuilds the hash chain and the tree, checks
the signed checkpoint, compares every served tile with the rebuilt one, checks
the server's own proofs against the rebuilt root and, given an earlier
checkpoint it trusted, that the log only grew since.
"""

from __future__ import annotations

import base64
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.audit.verify import EntryVerifier, VerificationError, VerifyReport
from ledger.errors import InvalidInput, Unavailable
from ledger.tlog.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger.tlog.jcs import CanonicalizationError, canonicalize
from ledger.tlog.merkle import ProofError, verify_consistency, verify_inclusion
from ledger.tlog.note import NoteError, Verifier
from ledger.tlog.tiles import TILE_HEIGHT, GrowingTile, tile_path

PAGE = 1000
USER_AGENT = "credtrace-ledger-verifier/1"


class RemoteError(VerificationError):
    """The server served something that does not verify: the log is not what it claims."""


class ServerUnavailable(Unavailable):
    """The server could not be reached, or did not answer as a ledger does.

    Refused connections, timeouts, error statuses and answers that are not the
    expected JSON or text say nothing about the log itself: try again later.
    """


@dataclass
class RemoteReport(VerifyReport):
    proofs_checked: int = 0
    consistent_with: int | None = None
    verifier_key: str = ""
    key_given: bool = False  # checked against the auditor's own key, not only the served one
    withheld: int = 0  # payloads the server did not disclose: their commitments unchecked

    def as_json(self) -> dict[str, object]:
        data = super().as_json()
        data["proofs_checked"] = self.proofs_checked
        data["consistent_with_size"] = self.consistent_with
        data["verifier_key"] = self.verifier_key
        data["verifier_key_source"] = "given" if self.key_given else "served"
        data["payloads_withheld"] = self.withheld
        return data


class Client:
    def __init__(self, base_url: str, timeout: float = 30.0, api_key: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"User-Agent": USER_AGENT}
        if api_key:  # an auditor's key: the server discloses every payload and salt
            self.headers["Authorization"] = f"Bearer {api_key}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        url = f"{self.base}/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers=self.headers)  # noqa: S310
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    data: bytes = response.read()
                    return data
            except urllib.error.HTTPError as exc:
                if exc.code == 429 and attempt < 4:  # rate limited: back off and retry
                    time.sleep(float(exc.headers.get("Retry-After") or 1))
                    continue
                raise ServerUnavailable(f"GET {url} answered {exc.code}") from exc
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise ServerUnavailable(f"GET {url} failed: {reason}") from exc
        raise ServerUnavailable(f"GET {url} kept being rate limited")

    def text(self, path: str, params: dict[str, Any] | None = None) -> str:
        try:
            return self.get(path, params).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ServerUnavailable(f"GET {path} answered something that is not text") from exc

    def json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A JSON object; anything else means this is not a ledger answering."""
        try:
            value = json.loads(self.get(path, params))
        except ValueError as exc:
            raise ServerUnavailable(f"GET {path} answered something that is not JSON") from exc
        if not isinstance(value, dict):
            raise ServerUnavailable(f"GET {path} answered JSON that is not an object")
        return value


def _b64(text: object, what: str, index: int) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RemoteError(f"{what} is not a base64 string", index)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise RemoteError(f"{what} is not base64", index) from exc


def _trusted_key(key: str | None) -> Verifier | None:
    """The auditor's own key, given on the command line: bad syntax is bad usage."""
    if key is None:
        return None
    try:
        return Verifier.parse(key)
    except NoteError as exc:
        raise InvalidInput(f"--key: {exc}") from exc


def _items(page: dict[str, Any], position: int) -> list[dict[str, Any]]:
    items = page.get("entries", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RemoteError("the entries page is not a list of entries", position)
    return items


Row = tuple[int, bytes, bytes | None, bytes | None]


def _withheld(item: dict[str, Any]) -> bool:
    """The server says it has the payload but does not show it to this caller."""
    return item.get("withheld") is True and not item.get("redacted") and item.get("payload") is None


def _row(item: dict[str, Any], position: int) -> Row:
    """One served entry as (index, leaf input, salt, canonical payload)."""
    index = item.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise RemoteError("a served entry has no integer index", position)
    leaf_input = _b64(item.get("leaf_input"), "leaf_input", index)
    if leaf_input is None:
        raise RemoteError("leaf_input is missing", index)
    payload = item.get("payload")
    try:
        payload_bytes = None if item.get("redacted") or payload is None else canonicalize(payload)
    except CanonicalizationError as exc:
        raise RemoteError(f"payload is not canonical JSON: {exc}", index) from exc
    return index, leaf_input, _b64(item.get("salt"), "salt", index), payload_bytes


def verify_remote(
    base_url: str,
    key: str | None = None,
    since_note: str | None = None,
    spot_checks: int = 16,
    *,
    progress: Callable[[int], object] | None = None,
    api_key: str | None = None,
) -> tuple[RemoteReport, str]:
    """Verify the log at ``base_url``; returns the report and the verified checkpoint note.

    A payload the server withholds (``"withheld": true``) cannot be checked against its
    commitment; the chain and the tree are verified all the same, and the report counts
    them. With an auditor's ``api_key`` nothing is withheld.
    """
    started = time.perf_counter()
    client = Client(base_url, api_key=api_key)
    trusted = _trusted_key(key)
    served_key = client.text("/v1/ledger/key").strip()
    try:
        verifier = trusted or Verifier.parse(served_key)
    except NoteError as exc:
        raise RemoteError(f"served verifier key: {exc}") from exc
    if key and served_key != str(verifier):
        raise RemoteError(f"the server presents key {served_key}, not the trusted {verifier}")
    note = client.text("/checkpoint")
    try:
        checkpoint = open_checkpoint(note, verifier, verifier.name)
    except CheckpointError as exc:
        raise RemoteError(f"latest checkpoint: {exc}") from exc
    since: Checkpoint | None = None
    if since_note:
        try:
            since = open_checkpoint(since_note, verifier, verifier.name)
        except CheckpointError as exc:
            raise RemoteError(f"trusted earlier checkpoint: {exc}") from exc
        if since.size > checkpoint.size:
            raise RemoteError(
                f"the log shrank: trusted size {since.size}, now serving {checkpoint.size}"
            )

    def check_tile(level: int, index: int, tile: GrowingTile) -> None:
        served = client.get(tile_path(level, index))
        if served != tile.hashes:
            raise RemoteError(
                f"served tile {level}/{index} differs from the entries",
                index << (TILE_HEIGHT * (level + 1)),
            )
        report.tiles += 1

    report = RemoteReport(verifier_key=str(verifier), key_given=trusted is not None)
    checker = EntryVerifier(verifier, verifier.name, check_tile, report=report)
    size = checkpoint.size
    position = 0
    withheld: set[int] = set()
    while position < size:
        end = min(size, position + PAGE)
        page = client.json("/v1/ledger/entries", {"start": position, "end": end})
        rows = []
        for item in _items(page, position):
            row = _row(item, position)
            if _withheld(item):
                withheld.add(row[0])
            rows.append(row)
        if since is not None and position < since.size <= end:
            checker.add([r for r in rows if r[0] < since.size])
            if checker.builder.root() != since.root:
                raise RemoteError(
                    f"the log was rewritten: root at size {since.size} "
                    "is not the one trusted earlier",
                    since.size - 1,
                )
            checker.add([r for r in rows if r[0] >= since.size])
        else:
            checker.add(rows)
        if checker.size != end:
            raise RemoteError("the server did not serve this entry", checker.size)
        if progress:
            progress(end - position)
        position = end
    checker.check_checkpoint(note)
    # A withheld payload is not a redacted one: no redaction need explain it.
    checker.redacted -= withheld
    report.withheld = len(withheld)
    for level, index, tile in checker.builder.partial_tiles():
        served = client.get(tile_path(level, index, tile.width))
        if served != tile.hashes:
            raise RemoteError(f"served partial tile {level}/{index} differs from the entries")
        report.tiles += 1
    checker.finish()

    # The server's proof API must agree with the tree the auditor rebuilt.
    rng = random.Random()  # noqa: S311 - which proofs to spot-check need not be secret
    for _ in range(min(spot_checks, size)):
        index = rng.randrange(size)
        proof = client.json("/v1/ledger/proof/inclusion", {"index": index, "tree_size": size})
        try:
            leaf_hash = base64.b64decode(proof["leaf_hash"])
            verify_inclusion(
                index,
                size,
                leaf_hash,
                [base64.b64decode(h) for h in proof["audit_path"]],
                checkpoint.root,
            )
        except (ProofError, KeyError, TypeError, ValueError) as exc:
            raise RemoteError(f"server's inclusion proof does not verify: {exc}", index) from exc
        report.proofs_checked += 1
    if since is not None and 0 < since.size < size:
        proof = client.json("/v1/ledger/proof/consistency", {"first": since.size, "second": size})
        try:
            verify_consistency(
                since.size,
                size,
                [base64.b64decode(h) for h in proof["consistency"]],
                since.root,
                checkpoint.root,
            )
        except (ProofError, KeyError, TypeError, ValueError) as exc:
            raise RemoteError(f"server's consistency proof does not verify: {exc}") from exc
        report.proofs_checked += 1
    if since is not None:
        report.consistent_with = since.size
    report.seconds = time.perf_counter() - started
    return report, note


def load_state(path: Path) -> str | None:
    """The trusted checkpoint kept in ``path`` (None at the first run).

    Checked before anything is downloaded, so that a state that cannot be kept is
    bad usage (exit 2), never reported after the log verified.
    """
    folder = path.parent
    if not folder.is_dir():
        raise InvalidInput(f"--state: the folder {str(folder)[:200]!r} does not exist")
    if path.exists() and not path.is_file():
        raise InvalidInput(f"--state: {str(path)[:200]!r} is not a file")
    try:
        return path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--state: cannot read {str(path)[:200]!r}: {exc}") from exc


def save_state(path: Path, note: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(note, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InvalidInput(
            f"the log verified, but --state {str(path)[:200]!r} could not be written: {exc}"
        ) from exc
