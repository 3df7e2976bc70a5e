"""Codes over HTTP: a code's status and proof, the code verifier keys, issuing a batch.

``GET /v1/codes/{gtin}/{batch}/{serial}`` says whether a code is genuine (200), revoked
(200, with the revoking entry), mistyped (400) or not issued (404); ``.../proof`` is its
proof document (``ledger.audit.codes``). ``POST /v1/codes/batches`` issues a declared
batch's codes for an officer or the product's owner and returns the manifest, with the
ZIP of images to download at ``/v1/codes/batches/{entry}/images.zip``.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import Operation
from litestar.params import PathParameter, QueryParameter

from ledger.records.ids import IdentifierError, normalise_gtin
from ledger.records.kinds import BATCH_PATTERN
from ledger.records.tables import LIVE
from ledger.store.engine import read_transaction
from lookup_api.authorization import required_key
from lookup_api.dependencies import ServicesDep
from lookup_api.json_body import read_json
from lookup_api.problems import Problem, bad_request, not_found, problem_responses, quoted
from lookup_api.routes.codes.service import (
    MISTYPED,
    NOT_ISSUED,
    code_keys,
    code_state,
    issue_for,
    open_recalls,
)
from lookup_api.routes.records.service import authorise
from qr.issuance import issue_entry, labels
from qr.labels import write_label_zip
from qr.links import code_url
from qr.lookup import ProofUnavailable, batch_serials, code_proof
from qr.signing import verifier_lines

_BATCH = re.compile(BATCH_PATTERN)
MAX_HTTP_CODES = 5_000  # images are drawn per request; larger batches: credtrace codes issue
# The images hold every serial of the batch: never kept by a shared cache.
PRIVATE = {"Cache-Control": "private, no-store"}


class CodeStatus(msgspec.Struct):
    gtin: str
    batch: str
    serial: str
    status: str  # genuine, revoked
    detail: str
    url: str  # the canonical Digital Link URL
    entry: int  # the codes.issued entry
    serials_root: str
    revoked_entry: int | None
    recall_entries: list[int]  # open recalls covering the batch
    proof: str  # where its proof document is


class IssueRequest(msgspec.Struct, forbid_unknown_fields=True):
    gtin: str
    batch: str
    count: int
    sign: bool = False


class IssuedLabel(msgspec.Struct):
    serial: str
    url: str


class IssueReceipt(msgspec.Struct):
    gtin: str
    batch: str
    count: int
    entry: int
    serials_root: str
    key_id: str
    signed: bool
    codes: list[IssuedLabel]
    images: str  # the ZIP of PNG and SVG images with the CSV manifest


def gtin_of(value: str) -> str:
    try:
        return normalise_gtin(value)
    except IdentifierError as exc:
        raise bad_request(f"gtin {quoted(value)} is not valid: {exc}", field="gtin") from exc


def batch_of(value: str) -> str:
    if not _BATCH.match(value):
        raise bad_request(
            f"batch {quoted(value)} is not valid: 1 to 20 characters of "
            "A-Z, a-z, 0-9, '.', '_' and '-'",
            field="batch",
        )
    return value


async def _issue_request(request: Request[Any, Any, Any]) -> IssueRequest:
    # The API's strict reader: JSON only, bounded depth, no duplicate keys.
    body = await read_json(request, IssueRequest, "an issue request")
    if not 1 <= body.count <= MAX_HTTP_CODES:
        raise bad_request(
            f"count must be 1 to {MAX_HTTP_CODES:,} per request, got {body.count} "
            "(larger batches: credtrace codes issue)",
            field="count",
        )
    return body


@dataclass
class IssueOperation(Operation):
    """The route reads its body itself, after authentication: its schema is stated here."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        _, components = msgspec.json.schema_components([IssueRequest])
        schema["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": components["IssueRequest"]}},
        }
        return schema


GtinPath = Annotated[str, PathParameter(description="GTIN-8, -12, -13 or -14")]
BatchPath = Annotated[str, PathParameter(description="Batch or lot number")]
SerialPath = Annotated[str, PathParameter(description="The code's serial (AI 21)")]


class CodesController(Controller):
    tags = ["codes"]  # noqa: RUF012

    @get(
        "/v1/codes/keys",
        media_type="text/plain",
        sync_to_thread=True,
        summary="Code verifier keys, oldest first (signed-note format)",
        responses=problem_responses(),
    )
    def keys(self, services: ServicesDep) -> Response[str]:
        text = verifier_lines(code_keys(services).verifiers())
        return Response(text, media_type="text/plain", headers={"Cache-Control": "max-age=60"})

    @get(
        "/v1/codes/{gtin:str}/{batch:str}/{serial:str}",
        sync_to_thread=True,
        summary="Is this code genuine, revoked or recalled?",
        responses=problem_responses(400, 404),
    )
    def status(
        self, services: ServicesDep, gtin: GtinPath, batch: BatchPath, serial: SerialPath
    ) -> Response[CodeStatus]:
        product, lot = gtin_of(gtin), batch_of(batch)
        with read_transaction(services.engine) as conn:
            state = code_state(conn, product, lot, serial)
            recalls = open_recalls(conn, product, lot)
        if state.status == MISTYPED:
            raise Problem(400, "Mistyped code", state.detail, type_="/problems/code-mistyped")
        if state.status == NOT_ISSUED or state.code is None:
            raise Problem(404, "Code not issued", state.detail, type_="/problems/code-not-issued")
        url = code_url(services.settings.public_url, product, lot, state.serial)
        body = CodeStatus(
            gtin=product,
            batch=lot,
            serial=state.serial,
            status=state.status,
            detail=state.detail,
            url=url,
            entry=state.code.entry,
            serials_root=state.code.serials_root,
            revoked_entry=state.revoked_entry,
            recall_entries=recalls,
            proof=f"/v1/codes/{product}/{lot}/{state.serial}/proof",
        )
        return Response(body, headers={"Cache-Control": "no-store"})

    @get(
        "/v1/codes/{gtin:str}/{batch:str}/{serial:str}/proof",
        sync_to_thread=True,
        summary="The code's proof: serial path, issuing entry, inclusion, checkpoint",
        responses=problem_responses(400, 404),
    )
    def proof(
        self, services: ServicesDep, gtin: GtinPath, batch: BatchPath, serial: SerialPath
    ) -> Response[dict[str, Any]]:
        product, lot = gtin_of(gtin), batch_of(batch)
        with read_transaction(services.engine) as conn:
            state = code_state(conn, product, lot, serial)
            if state.code is None:
                raise not_found(state.detail)
            try:
                document = code_proof(conn, services.ledger, state.code)
            except ProofUnavailable as exc:
                raise not_found(str(exc)) from exc
        return Response(document, headers={"Cache-Control": "public, max-age=30"})

    @post(
        "/v1/codes/batches",
        status_code=201,
        summary="Issue a declared batch's codes (officer, or the product's owner)",
        operation_class=IssueOperation,
        responses=problem_responses(400, 401, 403, 413, 415, 422),
        security=[{"bearer": []}],
    )
    async def issue(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[IssueReceipt]:
        key = required_key(request)
        # Only an authenticated caller (the authorisation hook) makes the server read a body.
        data = await _issue_request(request)
        product, lot = gtin_of(data.gtin), batch_of(data.batch)
        issued = await asyncio.to_thread(issue_for, services, key, product, lot, data.count)
        keys = code_keys(services) if data.sign else None
        printed = labels(services.settings.public_url, product, lot, issued.serials, keys)
        sign = "?sign=1" if data.sign else ""
        body = IssueReceipt(
            gtin=product,
            batch=lot,
            count=len(issued.serials),
            entry=issued.entry,
            serials_root=issued.serials_root,
            key_id=issued.key_id,
            signed=data.sign,
            codes=[IssuedLabel(label.serial, label.url) for label in printed],
            images=f"/v1/codes/batches/{issued.entry}/images.zip{sign}",
        )
        return Response(body, status_code=201, headers={"Location": body.images})

    @get(
        "/v1/codes/batches/{entry:int}/images.zip",
        sync_to_thread=True,
        media_type="application/zip",
        summary="The ZIP of an issuance's PNG and SVG images with its CSV manifest",
        responses=problem_responses(400, 401, 403, 404),
        security=[{"bearer": []}],
    )
    def images(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        entry: Annotated[int, PathParameter(ge=0, le=2**53 - 1)],
        sign: Annotated[int, QueryParameter(ge=0, le=1)] = 0,
    ) -> Response[bytes]:
        key = required_key(request)  # an officer or enterprise (lookup_api.authorization)
        issues = LIVE["proj_code_batches"]
        with read_transaction(services.engine) as conn:
            row = conn.execute(issues.select().where(issues.c.entry == entry)).mappings().first()
            if row is None:
                raise not_found(f"entry {entry} issued no codes")
            serials = batch_serials(
                conn, str(row["serials_root"]), str(row["gtin"]), str(row["batch"])
            )
        if not serials:
            raise not_found(
                f"the serials of entry {entry} are not stored here (a log restored from an "
                "export made before exports carried codes): reissue the batch's codes"
            )
        if len(serials) > MAX_HTTP_CODES:
            raise not_found(
                f"entry {entry} issued {len(serials):,} codes, too many to draw per request: "
                "export them with credtrace codes export"
            )
        gtin, batch = str(row["gtin"]), str(row["batch"])
        # The same rule as issuing: an officer, or the enterprise that owns the product.
        probe = issue_entry(
            gtin, batch, len(serials), root=str(row["serials_root"]), key_id=str(row["key_id"]),
            actor=key.actor,
        )  # fmt: skip
        authorise(services, key, probe)
        keys = code_keys(services) if sign else None
        printed = labels(services.settings.public_url, gtin, batch, serials, keys)
        with tempfile.TemporaryDirectory() as folder:
            export = write_label_zip(Path(folder), f"codes-{gtin}-{batch}-{entry}", printed)
            data = export.zip_path.read_bytes()
        return Response(
            data,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{export.zip_path.name}"',
                **PRIVATE,
            },
        )
