"""Public, read-only routes of the log: checkpoints, tiles, entries and proofs."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import FromQuery, PathParameter
from sqlalchemy import Connection

from ledger.store.engine import read_transaction
from ledger.store.entries import SignedCheckpoint
from ledger.store.log import Ledger
from ledger.tlog.merkle import ProofError
from ledger.tlog.tiles import TilePathError, parse_tile_path
from lookup_api.auth import ApiKey
from lookup_api.authorization import caller_key
from lookup_api.dependencies import ServicesDep
from lookup_api.params import (
    MAX_INDEX,
    SMALLEST_TREE,
    IndexPath,
    OptionalIndexQuery,
    OptionalSizeQuery,
    SizeQuery,
    TreeSizePath,
    parse_decimal,
    parse_optional_decimal,
)
from lookup_api.problems import Problem, bad_request, not_found, problem_responses, quoted
from lookup_api.routes.ledger.disclosure import Shown, shown_entries

MAX_PAGE = 1000
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
SHORT = {"Cache-Control": "public, max-age=2"}
TEXT = "text/plain"
# Anyone may call; a key (officer, auditor, the enterprise itself) discloses more payloads.
OPTIONAL_KEY: list[dict[str, list[str]]] = [{}, {"bearer": []}]


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
    # The payload (and salt) exist but are not shown to this caller: why not.
    withheld: bool = False
    withheld_reason: str | None = None


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


def entry_view(shown: Shown, redacted_by: int | None) -> EntryView:
    entry = shown.entry
    withheld = shown.withheld is not None
    return EntryView(
        index=entry.index,
        leaf_input=b64(entry.leaf_input),
        leaf_hash=b64(entry.leaf_hash),
        envelope=shown.envelope.as_json(),
        payload=shown.payload,
        salt=None if entry.salt is None or withheld else b64(entry.salt),
        redacted=entry.redacted,
        redacted_by=redacted_by,
        withheld=withheld,
        withheld_reason=shown.withheld,
    )


def _redaction(ledger: Ledger, shown: Shown, conn: Connection) -> int | None:
    return ledger.redaction_of(shown.entry.index, conn) if shown.entry.redacted else None


def disclosure_headers(key: ApiKey | None) -> dict[str, str]:
    """What a shared cache may keep: the public view briefly, a keyed view never."""
    if key is None:
        return {"Cache-Control": "public, max-age=60", "Vary": "Authorization"}
    return {"Cache-Control": "private, no-store", "Vary": "Authorization"}


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


# tlog-tiles: a level 0..63 or "entries", the index in groups of three digits, and
# for a partial tile its width 1..255. The same rule as ``parse_tile_path``, in ECMA-262.
TILE_PATH_PATTERN = (
    r"^(entries|[0-9]|[1-5][0-9]|6[0-3])/(x[0-9]{3}/)*[0-9]{3}"
    r"(\.p/([1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$"
)
TilePath = Annotated[
    str,
    PathParameter(
        description="a tile (0/x001/234) or entry bundle (entries/005.p/17) address",
        schema_extra={"pattern": TILE_PATH_PATTERN},
    ),
]


class LedgerController(Controller):
    tags = ["ledger"]  # noqa: RUF012

    @get(
        "/checkpoint",
        media_type=TEXT,
        sync_to_thread=True,
        summary="Latest signed checkpoint",
        responses=problem_responses(404),
    )
    def checkpoint(self, services: ServicesDep) -> Response[str]:
        return Response(latest(services.ledger).note, media_type=TEXT, headers=SHORT)

    @get(
        "/v1/ledger/key",
        media_type=TEXT,
        sync_to_thread=False,
        summary="Verifier key (C2SP signed-note)",
        responses=problem_responses(),
    )
    def key(self, services: ServicesDep) -> Response[str]:
        return Response(str(services.ledger.verifier) + "\n", media_type=TEXT, headers=IMMUTABLE)

    @get(
        "/v1/ledger/checkpoints/{size:str}",
        media_type=TEXT,
        sync_to_thread=True,
        responses=problem_responses(400, 404),
    )
    def checkpoint_at(self, services: ServicesDep, size: TreeSizePath) -> Response[str]:
        tree_size = parse_decimal(size, "size")
        checkpoint = services.ledger.checkpoint_at(tree_size)
        if checkpoint is None:
            raise not_found(f"no checkpoint was signed at size {tree_size}")
        return Response(checkpoint.note, media_type=TEXT, headers=IMMUTABLE)

    @get(
        "/tile/{path:path}",
        media_type="application/octet-stream",
        sync_to_thread=True,
        responses=problem_responses(400, 404),
    )
    def tile(self, services: ServicesDep, path: TilePath) -> Response[bytes]:
        try:
            address = parse_tile_path(path.lstrip("/"))
        except TilePathError as exc:
            raise bad_request(str(exc), field="path") from exc
        if address.index > MAX_INDEX:  # beyond any log, and beyond a 64-bit column
            raise not_found(f"tile {quoted(path.lstrip('/'))} does not exist")
        ledger = services.ledger
        if address.is_entries:
            data = ledger.entry_bundle(address.index, address.width)
        else:
            data = ledger.tile_bytes(address.level, address.index, address.width)
        if data is None:
            raise not_found(f"tile {path.lstrip('/')} does not exist (yet)")
        return Response(data, media_type="application/octet-stream", headers=IMMUTABLE)

    @get(
        "/v1/ledger/entries/{index:str}",
        sync_to_thread=True,
        responses=problem_responses(400, 401, 404),
        security=OPTIONAL_KEY,
    )
    def entry(
        self, request: Request[Any, Any, Any], services: ServicesDep, index: IndexPath
    ) -> Response[EntryView]:
        ledger = services.ledger
        number = parse_decimal(index, "index")
        key = caller_key(request)
        with read_transaction(services.engine) as conn:
            stored = ledger.entry(number, conn)
            if stored is None:
                raise not_found(f"entry {number} does not exist")
            redacted_by = ledger.redaction_of(number, conn) if stored.redacted else None
            shown = shown_entries(conn, [stored], key)[0]
        return Response(entry_view(shown, redacted_by), headers=disclosure_headers(key))

    @get(
        "/v1/ledger/entries",
        sync_to_thread=True,
        responses=problem_responses(400, 401),
        security=OPTIONAL_KEY,
    )
    def entries(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        start: OptionalIndexQuery = None,
        end: OptionalSizeQuery = None,
    ) -> Response[EntriesPage]:
        ledger = services.ledger
        key = caller_key(request)
        size = ledger.size()
        start_at = parse_optional_decimal(start, "start") or 0
        end_at = parse_optional_decimal(end, "end", minimum=SMALLEST_TREE)
        end_at = min(start_at + MAX_PAGE, size) if end_at is None else end_at
        if end_at <= start_at:
            raise bad_request(
                f"end ({end_at}) must be greater than start ({start_at})", field="end"
            )
        if end_at - start_at > MAX_PAGE:
            raise bad_request(
                f"a page holds at most {MAX_PAGE} entries; asked for {end_at - start_at}",
                field="end",
            )
        with read_transaction(services.engine) as conn:
            shown = shown_entries(conn, ledger.entries(start_at, min(end_at, size), conn), key)
            views = [
                entry_view(
                    s, ledger.redaction_of(s.entry.index, conn) if s.entry.redacted else None
                )
                for s in shown
            ]
        last = start_at + len(views)
        page = EntriesPage(start_at, last, size, views, last if last < size else None)
        return Response(page, headers=disclosure_headers(key))

    @get("/v1/ledger/proof/inclusion", sync_to_thread=True, responses=problem_responses(400, 404))
    def inclusion(
        self,
        services: ServicesDep,
        index: OptionalIndexQuery = None,
        leaf_hash: FromQuery[str | None] = None,
        tree_size: OptionalSizeQuery = None,
    ) -> Response[InclusionProof]:
        ledger = services.ledger
        return inclusion_answer(
            ledger,
            parse_optional_decimal(index, "index"),
            leaf_hash,
            parse_optional_decimal(tree_size, "tree_size", minimum=SMALLEST_TREE),
        )

    @get("/v1/ledger/proof/consistency", sync_to_thread=True, responses=problem_responses(400, 404))
    def consistency(
        self,
        services: ServicesDep,
        first: SizeQuery,
        second: OptionalSizeQuery = None,
    ) -> Response[ConsistencyProof]:
        return consistency_answer(
            services.ledger,
            parse_decimal(first, "first", minimum=SMALLEST_TREE),
            parse_optional_decimal(second, "second", minimum=SMALLEST_TREE),
        )

    @get(
        "/v1/ledger/entries/{index:str}/proof",
        media_type=TEXT,
        sync_to_thread=True,
        responses=problem_responses(400, 404),
    )
    def tlog_proof(
        self,
        services: ServicesDep,
        index: IndexPath,
        tree_size: OptionalSizeQuery = None,
    ) -> Response[str]:
        return tlog_proof_answer(
            services.ledger,
            parse_decimal(index, "index"),
            parse_optional_decimal(tree_size, "tree_size", minimum=SMALLEST_TREE),
        )


def inclusion_answer(
    ledger: Ledger, index: int | None, leaf_hash: str | None, tree_size: int | None
) -> Response[InclusionProof]:
    """An inclusion proof by index or by leaf hash, in the latest or a given tree."""
    if (index is None) == (leaf_hash is None):
        raise bad_request("give exactly one of index or leaf_hash", field="index")
    if leaf_hash is not None:
        index = _index_of_leaf(ledger, leaf_hash)
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


def _index_of_leaf(ledger: Ledger, leaf_hash: str) -> int:
    try:
        wanted = base64.b64decode(leaf_hash.replace(" ", "+"), validate=True)
    except ValueError as exc:
        raise bad_request(
            f"leaf_hash must be standard base64, got {quoted(leaf_hash)}", field="leaf_hash"
        ) from exc
    if len(wanted) != 32:
        raise bad_request(f"leaf_hash must be 32 bytes, got {len(wanted)}", field="leaf_hash")
    index = ledger.index_of_leaf(wanted)
    if index is None:
        raise not_found("no entry has that leaf hash")
    return index


def consistency_answer(
    ledger: Ledger, first: int, second: int | None
) -> Response[ConsistencyProof]:
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


def tlog_proof_answer(ledger: Ledger, index: int, tree_size: int | None) -> Response[str]:
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
