"""What the credit routes do, apart from HTTP: ask ``credit`` (who may: authorization)."""

from __future__ import annotations

import datetime as dt

from credit.decisions import DecisionRefused, InspectionDecision, UnknownBatch, decide_batch
from credit.draws import Draw, DrawCheck, DrawRefused, make_draw, verify_draw
from credit.explain import Explanation, UnknownEnterprise, explain, today
from credit.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy
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


def draw_for(services: Services, key: ApiKey, policy: Policy, count: int) -> tuple[Draw, str, int]:
    """Make a draw from the latest checkpoint and record it: (draw, draw id, entry)."""
    with read_transaction(services.engine) as conn:
        try:
            draw = make_draw(conn, services.ledger, policy, count)
        except DrawRefused as exc:
            raise Problem(422, "Draw refused", str(exc), type_="/problems/draw-refused") from exc
    entry = draw.entry(key.actor)
    receipt = services.appender.append(entry)
    return draw, entry.subject.removeprefix("draw:"), receipt.index


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
