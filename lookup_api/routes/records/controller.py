"""POST /v1/records: append a record; the answer carries its proof."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.openapi.spec import Operation
from litestar.params import HeaderParameter

from ledger.records.kinds import RECORD_TYPES
from lookup_api.authorization import required_key
from lookup_api.dependencies import ServicesDep
from lookup_api.json_body import read_json
from lookup_api.openapi_doc import ecma_patterns
from lookup_api.problems import problem_responses
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


JSON = "application/json"


@dataclass
class RecordOperation(Operation):
    """The route reads its body itself (after authentication), so Litestar cannot see
    the body's type: the OpenAPI request body is stated here."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        schema["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": record_request_schema()}},
        }
        return schema


def record_request_schema() -> dict[str, Any]:
    """One variant per kind: the kind's name and the payload schema of its version."""
    _, payloads = msgspec.json.schema_components(RECORD_TYPES.values())
    variants = [
        {
            "title": kind,
            "type": "object",
            "properties": {
                "kind": {"const": kind},
                "payload": ecma_patterns(payloads[record_type.__name__]),
            },
            "required": ["kind", "payload"],
            "additionalProperties": False,
        }
        for kind, record_type in sorted(RECORD_TYPES.items())
    ]
    return {"oneOf": variants}


async def read_record_request(request: Request[Any, Any, Any]) -> RecordRequest:
    """The body as a record request: JSON only, under the parser's limits, strictly typed."""
    return await read_json(request, RecordRequest, "a record request")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class RecordsController(Controller):
    tags = ["records"]  # noqa: RUF012

    @post(
        "/v1/records",
        status_code=201,
        summary="Append a record (officer or enterprise key)",
        operation_class=RecordOperation,
        responses=problem_responses(400, 401, 403, 413, 415, 422),
        security=[{"bearer": []}],
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[RecordReceipt]:
        key = required_key(request)
        # Only an authenticated caller (the authorisation hook) makes the server read a body.
        data = await read_record_request(request)
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
