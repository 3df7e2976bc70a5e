"""POST /v1/records: append a record; the answer carries its proof."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import HeaderParameter, JSONBody

from lookup_api.auth import AuthError
from lookup_api.dependencies import ServicesDep
from lookup_api.problems import Problem
from lookup_api.routes.ledger.controller import InclusionProof
from lookup_api.routes.records.service import submit


class RecordRequest(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    payload: dict[str, Any]


class RecordReceipt(msgspec.Struct):
    index: int
    kind: str
    subject: str
    leaf_hash: str
    checkpoint: str
    inclusion_proof: InclusionProof
    tlog_proof: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class RecordsController(Controller):
    tags = ["records"]  # noqa: RUF012

    @post("/v1/records", status_code=201, summary="Append a record (officer or enterprise key)")
    async def create(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        data: JSONBody[RecordRequest],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[RecordReceipt]:
        try:
            key = services.keys.authenticate(request.headers.get("authorization"))
        except AuthError as exc:
            raise Problem(
                401,
                "Unauthorized",
                str(exc),
                type_="/problems/unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="credtrace"'},
            ) from exc
        entry, receipt = await submit(services, key, data.kind, data.payload, idempotency_key)
        body = RecordReceipt(
            index=receipt.index,
            kind=entry.kind,
            subject=entry.subject,
            leaf_hash=_b64(receipt.leaf_hash),
            checkpoint=receipt.checkpoint.note,
            inclusion_proof=InclusionProof(
                receipt.index,
                receipt.checkpoint.size,
                _b64(receipt.leaf_hash),
                [_b64(h) for h in receipt.audit_path],
            ),
            tlog_proof=receipt.tlog_proof,
        )
        headers = {"Location": f"/v1/ledger/entries/{receipt.index}"}
        if receipt.repeated:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status_code=201, headers=headers)
