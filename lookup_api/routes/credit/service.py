"""What the credit routes do, apart from HTTP: ask ``credit`` (who may: authorization)."""

from __future__ import annotations

import datetime as dt

from credit.decisions import DecisionRefused, InspectionDecision, UnknownBatch, decide_batch
from credit.draws import (
    DrawCheck,
    DrawRefused,
    DrawRequest,
    MadeDraw,
    Scope,
    make_draw,
    verify_draw,
)
from credit.explain import (
    Explanation,
    PolicyNotInEffect,
    Proposal,
    UnknownEnterprise,
    blacklist_proposals,
    explain,
    today,
)
from credit.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy
from ledger.records.kinds import RecordError, parse_record
from ledger.store.engine import read_transaction
from lookup_api.auth import ApiKey
from lookup_api.problems import Problem, bad_request, not_found
from lookup_api.wiring import Services


def policy_named(policy_id: str | None) -> Policy:
    try:
        return load_policy(policy_id or DEFAULT_POLICY)
    except PolicyError as exc:
        raise bad_request(exc.problem, field="policy") from exc


def parse_day(value: str | None) -> dt.date:
    if value is None:
        return today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{value[:20]!r} is not a date (YYYY-MM-DD)", field="as_of") from None


def credit_of(services: Services, uscc: str, policy: Policy, as_of: dt.date) -> Explanation:
    with read_transaction(services.engine) as conn:
        try:
            return explain(conn, uscc, policy, as_of)
        except UnknownEnterprise as exc:
            raise not_found(str(exc)) from exc
        except PolicyNotInEffect as exc:
            raise bad_request(str(exc), field="as_of") from exc


def proposals_of(services: Services, policy: Policy) -> list[Proposal]:
    with read_transaction(services.engine) as conn:
        return blacklist_proposals(conn, policy)


def check_request(policy: Policy, count: int, scope: Scope, draw_id: str | None) -> None:
    """The request's fields as draw.requested's schema checks them: 400 naming the field."""
    asked = DrawRequest(draw_id or "0", policy.id, count, scope)
    try:
        parse_record("draw.requested", asked.payload())
    except RecordError as exc:
        raise bad_request(exc.reason, field=exc.field) from exc


def draw_for(  # noqa: PLR0917 - the request's parts
    services: Services,
    key: ApiKey,
    policy: Policy,
    count: int,
    scope: Scope,
    draw_id: str | None,
) -> MadeDraw:
    """Record the request, then the draw seeded by the first checkpoint covering it."""
    check_request(policy, count, scope, draw_id)
    try:
        return make_draw(
            services.ledger,
            policy,
            count,
            key.actor,
            scope=scope,
            draw_id=draw_id,
            append=lambda entry: services.appender.append(entry).index,
        )
    except DrawRefused as exc:
        raise Problem(422, "Draw refused", str(exc), type_="/problems/draw-refused") from exc


def draw_check(services: Services, policy: Policy, draw_id: str) -> DrawCheck:
    with read_transaction(services.engine) as conn:
        try:
            return verify_draw(conn, services.ledger, policy, draw_id)
        except DrawRefused as exc:
            raise not_found(str(exc)) from exc


def decision_for(services: Services, gtin: str, batch: str, policy: Policy) -> InspectionDecision:
    with read_transaction(services.engine) as conn:
        try:
            return decide_batch(conn, services.ledger, policy, gtin, batch)
        except UnknownBatch as exc:
            raise not_found(str(exc)) from exc
        except DecisionRefused as exc:
            raise Problem(
                422, "Decision refused", str(exc), type_="/problems/decision-refused"
            ) from exc
