"""Public, read-only routes of the log: checkpoints, tiles, entries and proofs."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.params import FromPath, FromQuery, PathParameter, QueryParameter

from ledger.store.log import Ledger, SignedCheckpoint, StoredEntry
from ledger.tlog.envelope import parse_envelope
from ledger.tlog.merkle import ProofError
from ledger.tlog.tiles import TilePathError, parse_tile_path
from lookup_api.dependencies import ServicesDep
from lookup_api.problems import Problem, bad_request, not_found

MAX_PAGE = 1000
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
SHORT = {"Cache-Control": "public, max-age=2"}
TEXT = "text/plain"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class EntryView(msgspec.Struct):
    index: int
    leaf_input: str
    leaf_hash: str
    envelope: dict[str, Any]
    payload: Any
    salt: str | None
    redacted: bool
    redacted_by: int | None = None


class EntriesPage(msgspec.Struct):
    start: int
    end: int
    tree_size: int
    entries: list[EntryView]
    next: int | None


class InclusionProof(msgspec.Struct):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


class ConsistencyProof(msgspec.Struct):
    first: int
    second: int
    consistency: list[str]


def entry_view(entry: StoredEntry, redacted_by: int | None) -> EntryView:
    return EntryView(
        index=entry.index,
        leaf_input=b64(entry.leaf_input),
        leaf_hash=b64(entry.leaf_hash),
        envelope=parse_envelope(entry.leaf_input).as_json(),
        payload=None if entry.payload is None else json.loads(entry.payload),
        salt=None if entry.salt is None else b64(entry.salt),
        redacted=entry.redacted,
        redacted_by=redacted_by,
    )


def latest(ledger: Ledger) -> SignedCheckpoint:
    checkpoint = ledger.latest_checkpoint()
    if checkpoint is None:
        raise not_found("the log is empty: no checkpoint has been signed yet")
    return checkpoint


def _tree_size(ledger: Ledger, tree_size: int | None) -> int:
    current = latest(ledger).size
    if tree_size is None:
        return current
    if not 1 <= tree_size <= current:
        raise bad_request(
            f"tree_size must be between 1 and {current}, got {tree_size}", field="tree_size"
        )
    return tree_size


IndexPath = Annotated[int, PathParameter(ge=0, le=2**62)]
IndexQuery = Annotated[int, QueryParameter(ge=0, le=2**62)]
SizeQuery = Annotated[int, QueryParameter(ge=1, le=2**62)]
OptionalIndexQuery = Annotated[int | None, QueryParameter(ge=0, le=2**62)]
OptionalSizeQuery = Annotated[int | None, QueryParameter(ge=1, le=2**62)]


class LedgerController(Controller):
    tags = ["ledger"]  # noqa: RUF012

    @get("/checkpoint", media_type=TEXT, sync_to_thread=True, summary="Latest signed checkpoint")
    def checkpoint(self, services: ServicesDep) -> Response[str]:
        return Response(latest(services.ledger).note, media_type=TEXT, headers=SHORT)

    @get(
        "/v1/ledger/key",
        media_type=TEXT,
        sync_to_thread=False,
        summary="Verifier key (C2SP signed-note)",
    )
    def key(self, services: ServicesDep) -> Response[str]:
        return Response(str(services.ledger.verifier) + "\n", media_type=TEXT, headers=IMMUTABLE)

    @get("/v1/ledger/checkpoints/{size:int}", media_type=TEXT, sync_to_thread=True)
    def checkpoint_at(self, services: ServicesDep, size: IndexPath) -> Response[str]:
        checkpoint = services.ledger.checkpoint_at(size)
        if checkpoint is None:
            raise not_found(f"no checkpoint was signed at size {size}")
        return Response(checkpoint.note, media_type=TEXT, headers=IMMUTABLE)

    @get("/tile/{path:path}", media_type="application/octet-stream", sync_to_thread=True)
    def tile(self, services: ServicesDep, path: FromPath[str]) -> Response[bytes]:
        try:
            address = parse_tile_path(path.lstrip("/"))
        except TilePathError as exc:
            raise bad_request(str(exc), field="path") from exc
        ledger = services.ledger
        if address.is_entries:
            data = ledger.entry_bundle(address.index, address.width)
        else:
            data = ledger.tile_bytes(address.level, address.index, address.width)
        if data is None:
            raise not_found(f"tile {path.lstrip('/')} does not exist (yet)")
        return Response(data, media_type="application/octet-stream", headers=IMMUTABLE)

    @get("/v1/ledger/entries/{index:int}", sync_to_thread=True)
    def entry(self, services: ServicesDep, index: IndexPath) -> Response[EntryView]:
        ledger = services.ledger
        stored = ledger.entry(index)
        if stored is None:
            raise not_found(f"entry {index} does not exist")
        redacted_by = ledger.redaction_of(index) if stored.redacted else None
        return Response(
            entry_view(stored, redacted_by), headers={"Cache-Control": "public, max-age=60"}
        )

    @get("/v1/ledger/entries", sync_to_thread=True)
    def entries(
        self,
        services: ServicesDep,
        start: IndexQuery = 0,
        end: OptionalSizeQuery = None,
    ) -> EntriesPage:
        ledger = services.ledger
        size = ledger.size()
        end = min(start + MAX_PAGE, size) if end is None else end
        if end <= start:
            raise bad_request(f"end ({end}) must be greater than start ({start})", field="end")
        if end - start > MAX_PAGE:
            raise bad_request(
                f"a page holds at most {MAX_PAGE} entries; asked for {end - start}", field="end"
            )
        stored = ledger.entries(start, min(end, size))
        views = [
            entry_view(e, ledger.redaction_of(e.index) if e.redacted else None) for e in stored
        ]
        last = start + len(views)
        return EntriesPage(start, last, size, views, last if last < size else None)

    @get("/v1/ledger/proof/inclusion", sync_to_thread=True)
    def inclusion(
        self,
        services: ServicesDep,
        index: OptionalIndexQuery = None,
        leaf_hash: FromQuery[str | None] = None,
        tree_size: OptionalSizeQuery = None,
    ) -> Response[InclusionProof]:
        ledger = services.ledger
        if (index is None) == (leaf_hash is None):
            raise bad_request("give exactly one of index or leaf_hash", field="index")
        if leaf_hash is not None:
            try:
                wanted = base64.b64decode(leaf_hash.replace(" ", "+"), validate=True)
            except ValueError as exc:
                raise bad_request("leaf_hash is not standard base64", field="leaf_hash") from exc
            if len(wanted) != 32:
                raise bad_request(
                    f"leaf_hash must be 32 bytes, got {len(wanted)}", field="leaf_hash"
                )
            index = ledger.index_of_leaf(wanted)
            if index is None:
                raise not_found("no entry has that leaf hash")
        assert index is not None
        explicit = tree_size is not None
        size = _tree_size(ledger, tree_size)
        if index >= size:
            raise bad_request(f"entry {index} is not in the tree of size {size}", field="index")
        stored = ledger.entry(index)
        if stored is None:
            raise not_found(f"entry {index} does not exist")
        path = ledger.inclusion_proof(index, size)
        proof = InclusionProof(index, size, b64(stored.leaf_hash), [b64(h) for h in path])
        return Response(proof, headers=IMMUTABLE if explicit else SHORT)

    @get("/v1/ledger/proof/consistency", sync_to_thread=True)
    def consistency(
        self,
        services: ServicesDep,
        first: SizeQuery,
        second: OptionalSizeQuery = None,
    ) -> Response[ConsistencyProof]:
        ledger = services.ledger
        explicit = second is not None
        second = _tree_size(ledger, second)
        if first > second:
            raise bad_request(f"first ({first}) must not exceed second ({second})", field="first")
        try:
            path = ledger.consistency_proof(first, second)
        except ProofError as exc:
            raise bad_request(str(exc), field="first") from exc
        body = ConsistencyProof(first, second, [b64(h) for h in path])
        return Response(body, headers=IMMUTABLE if explicit else SHORT)

    @get("/v1/ledger/entries/{index:int}/proof", media_type=TEXT, sync_to_thread=True)
    def tlog_proof(
        self,
        services: ServicesDep,
        index: IndexPath,
        tree_size: OptionalSizeQuery = None,
    ) -> Response[str]:
        ledger = services.ledger
        if tree_size is None:
            checkpoint = latest(ledger)
        else:
            found = ledger.checkpoint_at(tree_size)
            if found is None:
                raise not_found(f"no checkpoint was signed at size {tree_size}")
            checkpoint = found
        if index >= checkpoint.size:
            raise Problem(
                404,
                "Not found",
                f"entry {index} is not in the tree of size {checkpoint.size}",
                type_="/problems/not-found",
            )
        text = ledger.tlog_proof(index, checkpoint)
        return Response(text, media_type=TEXT, headers=IMMUTABLE if tree_size else SHORT)
