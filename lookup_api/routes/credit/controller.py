"""GET /v1/enterprises/{uscc}/credit (officer, auditor): grade, score, measures, reasons
with rule ids, windows and entries, and grade history; POST
/v1/batches/{gtin}/{batch}/decision (officer): the inspection decision drawn from the
first checkpoint that covered the declaration; GET /v1/credit/policies (public)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter

from credit.draws import Scope
from credit.engine import measures_json
from credit.policy import DEFAULT_POLICY, Policy, all_policies
from ledger.records.ids import normalise_gtin, normalise_uscc
from lookup_api.authorization import required_key
from lookup_api.dependencies import ServicesDep
from lookup_api.json_body import body_operation, read_json
from lookup_api.problems import bad_request, problem_responses, quoted
from lookup_api.routes.credit.service import (
    credit_of,
    decision_for,
    draw_check,
    draw_for,
    parse_day,
    policy_named,
    proposals_of,
)
from lookup_api.routes.state.controller import (
    BatchPath,
    GtinPath,
    MeasuresView,
    UsccPath,
    _batch_id,
    _identifier,
)
from lookup_api.wiring import Services

DRAW_ID = re.compile(r"[0-9a-z][0-9a-z-]{0,63}")  # the draw.made draw_id pattern


class WindowView(msgspec.Struct):
    start: str = msgspec.field(name="from")
    end: str = msgspec.field(name="to")


class ReasonView(msgspec.Struct):
    rule: str
    points: int
    window: WindowView | None
    entries: list[int]
    zh: str
    en: str


class GradeRecordView(msgspec.Struct):
    entry: int
    grade: str
    policy: str
    on: str


class RepairView(msgspec.Struct):
    refused: str
    refused_zh: str  # the same reason in Chinese
    allowed_on: str | None


class SanctionView(msgspec.Struct):
    entry: int
    kind: str
    reason: str
    on: str


class ProposalView(msgspec.Struct):
    uscc: str
    name: str | None
    grade: str
    graded_entry: int


class CreditView(msgspec.Struct):
    uscc: str
    policy: str
    as_of: str
    grade: str
    grade_zh: str
    grade_en: str
    score: int
    rule: str
    measures: MeasuresView
    reasons: list[ReasonView]
    reasons_digest: str
    tree_size: int
    history: list[GradeRecordView]
    proposed_for_blacklist: bool
    repair: RepairView | None  # why a repair request would be refused today; null: allowed
    sanctions: list[SanctionView]  # yellow cards and interviews, every one


class DecisionView(msgspec.Struct):
    batch: str
    decision: str  # inspect, release (on document review)
    grade: str
    policy: str
    risk_class: str
    rate: str  # a fraction of 1, exact
    checkpoint_size: int
    seed: str  # base64 SHA-256(checkpoint root || batch id)


class PolicyView(msgspec.Struct):
    id: str
    version: int
    title: str
    title_en: str
    effective_from: str
    effective_until: str | None
    default: bool
    grades: list[str]
    measures: dict[str, MeasuresView]


class DrawRequest(msgspec.Struct, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    policy: str | None = None
    # Checked against the draw.made schema (the record's own rules) before anything else.
    grades: Annotated[list[str], msgspec.Meta(max_length=32)] = msgspec.field(default_factory=list)
    port: str | None = None
    roster: Annotated[list[str], msgspec.Meta(max_length=10_000)] = msgspec.field(
        default_factory=list
    )
    inspectors: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    draw_id: str | None = None


class DrawView(msgspec.Struct):
    draw_id: str
    entry: int  # the draw.made entry
    request: int  # the draw.requested entry recorded first, whose checkpoint seeds the draw
    policy: str
    population: int
    count: int
    seed_size: int
    picks: list[str]
    inspectors: list[str] | None


class DrawCheckView(msgspec.Struct):
    draw_id: str
    entry: int
    matches: bool
    differences: list[str]


PolicyParam = Annotated[
    str | None, QueryParameter(description="a policy id (default the active one)")
]
DrawIdPath = Annotated[
    str,
    PathParameter(
        description="A draw's id: its draw_id, or 16 hex digits of its digest",
        schema_extra={"pattern": "^[0-9a-z][0-9a-z-]{0,63}$"},
    ),
]
AsOfParam = Annotated[
    str | None, QueryParameter(name="as_of", description="YYYY-MM-DD (default today)")
]


def _convert(value: Any, kind: type[Any]) -> Any:
    return msgspec.convert(value, kind, from_attributes=False)


def credit_view(services: Services, uscc: str, policy: Policy, as_of: dt.date) -> CreditView:
    """The grade of ``uscc`` (normalised) with everything behind it: what the credit route
    answers, and what the officers' enterprise page shows."""
    found = credit_of(services, uscc, policy, as_of)
    body = found.as_json()
    spec = policy.grade(found.grading.grade)
    body |= {"grade_zh": spec.zh, "grade_en": spec.en}
    result: CreditView = _convert(body, CreditView)
    return result


class CreditController(Controller):
    tags = ["credit"]  # noqa: RUF012

    @get(
        "/v1/enterprises/{uscc:str}/credit",
        sync_to_thread=True,
        summary="Grade, reasons, measures and history (officer or auditor key)",
        responses=problem_responses(400, 401, 403, 404),
        security=[{"bearer": []}],
    )
    def credit(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        uscc: UsccPath,
        policy: PolicyParam = None,
        as_of: AsOfParam = None,
    ) -> Response[CreditView]:
        code = _identifier(uscc, "uscc", normalise_uscc)
        view = credit_view(services, code, policy_named(policy), parse_day(as_of))
        return Response(view, headers={"Cache-Control": "no-store"})

    @post(
        "/v1/batches/{gtin:str}/{batch:str}/decision",
        status_code=200,
        sync_to_thread=True,
        summary="Inspect or release on document review, drawn from a checkpoint seed (officer)",
        responses=problem_responses(400, 401, 403, 404, 422),
        security=[{"bearer": []}],
    )
    def decision(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        gtin: GtinPath,
        batch: BatchPath,
        policy: PolicyParam = None,
    ) -> DecisionView:
        found = decision_for(
            services,
            _identifier(gtin, "gtin", normalise_gtin),
            _batch_id(batch),
            policy_named(policy),
        )
        return DecisionView(
            batch=found.batch,
            decision=found.decision,
            grade=found.grade,
            policy=found.policy,
            risk_class=found.risk_class,
            rate=str(found.rate),
            checkpoint_size=found.checkpoint_size,
            seed=base64.b64encode(found.seed).decode(),
        )

    @post(
        "/v1/draws",
        status_code=201,
        summary="Record a draw request, then the targets weighted by grade drawn from the "
        "first checkpoint covering it, as draw.made (officer)",
        operation_class=body_operation(DrawRequest),
        responses=problem_responses(400, 401, 403, 413, 415, 422),
        security=[{"bearer": []}],
    )
    async def draw(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[DrawView]:
        key = required_key(request)
        # Read strictly (lookup_api.json_body): deep nesting was a 500 through Litestar's.
        data = await read_json(request, DrawRequest, "a draw request")
        scope = Scope(tuple(data.grades), data.port, tuple(data.roster), data.inspectors)
        made = await asyncio.to_thread(
            draw_for, services, key, policy_named(data.policy), data.count, scope, data.draw_id
        )
        draw = made.draw
        assert draw.draw_id is not None and draw.policy is not None
        draw_id = draw.draw_id
        body = DrawView(
            draw_id,
            made.entry,
            made.request,
            draw.policy,
            draw.population,
            draw.count,
            draw.seed_size,
            draw.picks,
            draw.inspectors,
        )
        return Response(body, status_code=201, headers={"Location": f"/v1/draws/{draw_id}"})

    @get(
        "/v1/draws/{draw_id:str}",
        sync_to_thread=True,
        summary="Recompute a recorded draw from the ledger (public)",
        responses=problem_responses(400, 404),
    )
    def draw_verify(
        self, services: ServicesDep, draw_id: DrawIdPath, policy: PolicyParam = None
    ) -> DrawCheckView:
        if not DRAW_ID.fullmatch(draw_id):
            raise bad_request(
                f"{quoted(draw_id)} is not a draw id (16 hex digits)", field="draw_id"
            )
        check = draw_check(services, policy_named(policy), draw_id)
        return DrawCheckView(check.draw_id, check.entry, check.matches, check.differences())

    @get(
        "/v1/credit/proposals",
        sync_to_thread=True,
        summary="Enterprises proposed for blacklist.noticed (officer or auditor key)",
        responses=problem_responses(400, 401, 403),
        security=[{"bearer": []}],
    )
    def proposals(
        self, request: Request[Any, Any, Any], services: ServicesDep, policy: PolicyParam = None
    ) -> Response[list[ProposalView]]:
        found = proposals_of(services, policy_named(policy))
        views = [ProposalView(p.uscc, p.name, p.grade, p.graded_entry) for p in found]
        return Response(views, headers={"Cache-Control": "no-store"})

    @get(
        "/v1/credit/policies",
        sync_to_thread=False,
        summary="The grading policies",
        responses=problem_responses(),
    )
    def policies(self) -> Response[list[PolicyView]]:
        views = [
            PolicyView(
                id=p.id,
                version=p.version,
                title=p.title,
                title_en=p.title_en,
                effective_from=p.effective_from.isoformat(),
                effective_until=p.effective_until.isoformat() if p.effective_until else None,
                default=p.id == DEFAULT_POLICY,
                grades=[g.id for g in p.grades],
                measures={
                    g: _convert(measures_json(m), MeasuresView) for g, m in p.measures.items()
                },
            )
            for p in all_policies()
        ]
        return Response(views, headers={"Cache-Control": "public, max-age=300"})
