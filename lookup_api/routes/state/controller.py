"""Public, read-only views of the current state: enterprises, products and batches.

Every view is read from the projections in one snapshot, together with the size
of the latest signed checkpoint in that snapshot (``tree_size``), and names the
ledger entries behind it (``entries``), so a client can fetch each entry's
inclusion proof at that tree size from ``/v1/ledger/proof/inclusion``.

Public disclosure of violations follows the design: minor items are never shown,
general items for one year from occurrence, serious items for three years;
revoked violations are not shown. The ledger itself keeps everything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import Connection, func, select

from credit.catalogue import Policy, load_policy
from credit.disclosure import is_disclosed, public_blacklist
from ledger.records.ids import IdentifierError, normalise_gtin, normalise_uscc
from ledger.records.kinds import BATCH_PATTERN, CHINA
from ledger.records.tables import LIVE
from ledger.store.engine import read_transaction
from ledger.store.log import Ledger
from lookup_api.cache import (
    Fresh,
    ResponseCache,
    batch_dep,
    batches_dep,
    enterprise_dep,
    product_dep,
)
from lookup_api.dependencies import ServicesDep
from lookup_api.negotiation import preferred_media_type
from lookup_api.openapi_doc import GTIN_SCHEMA, USCC_SCHEMA, ecma_patterns
from lookup_api.pages.answers import language_of
from lookup_api.pages.layout import Shell, html_response
from lookup_api.problems import bad_request, not_found, problem_responses, quoted

CACHE = {"Cache-Control": "public, max-age=30"}
JSON = "application/json"
HTML = "text/html"

_BATCH = re.compile(BATCH_PATTERN)


# --- views ---------------------------------------------------------------------------


class SanctionView(msgspec.Struct):
    kind: str  # sanction.yellow_card, sanction.interview
    on: str
    entry: int


class ViolationView(msgspec.Struct):
    item: str
    severity: str
    occurred_on: str
    case_no: str
    entry: int


class RecallView(msgspec.Struct):
    gtin: str
    batches: list[str]  # empty: every batch of the product
    reason: str
    issued_on: str
    open: bool
    entry: int
    closed_entry: int | None


class EnterpriseRecallView(msgspec.Struct):
    gtin: str
    product: str | None
    batches: list[str]
    reason: str
    issued_on: str
    entry: int


class MeasuresView(msgspec.Struct):
    inspection_percent: str
    document_review: bool
    paperless: bool
    green_channel: bool
    targeted_control: bool
    public_list: str | None


def measures_view(policy: Policy, grade: str | None) -> MeasuresView | None:
    m = policy.measures.get(grade or "")
    if m is None:
        return None
    return MeasuresView(
        str(m.inspection_percent),
        m.document_review,
        m.paperless,
        m.green_channel,
        m.targeted_control,
        m.public_list,
    )


class EnterpriseProfile(msgspec.Struct):
    uscc: str
    name: str | None
    roles: list[str]
    address: str | None
    country: str | None
    filed_on: str | None
    status: str  # active, revoked
    blacklist: str  # none, listed (a notice is not public: credit.disclosure)
    blacklist_entry: int | None
    grade: str | None
    # Always null here: a score counts minor items, which are never public (DESIGN); the
    # officer route /v1/enterprises/{uscc}/credit gives it with its reasons.
    score: int | None
    graded_entry: int | None
    filed_entry: int | None
    updated_entry: int
    revoked_entry: int | None
    products: int  # filed and not revoked
    sanctions: list[SanctionView]
    violations: list[ViolationView]  # only those public under the disclosure rules
    recalls: list[EnterpriseRecallView]  # open recalls of its products
    tree_size: int
    entries: list[int]
    # What the recorded grade means for supervision (the active policy's measures).
    measures: MeasuresView | None = None


class ProductView(msgspec.Struct):
    gtin: str
    name: str | None
    hs_code: str | None
    origin_country: str | None
    owner_uscc: str | None
    owner_name: str | None
    risk_class: str | None
    status: str  # active, revoked
    filed_entry: int | None
    revoked_entry: int | None
    owner_entry: int | None  # latest entry that changed the owner's record
    recalls: list[RecallView]  # open and closed, newest first
    batches: int  # declared batches
    tree_size: int
    entries: list[int]


class InspectionView(msgspec.Struct):
    outcome: str
    inspected_on: str
    entry: int


class BatchView(msgspec.Struct):
    gtin: str
    batch: str
    quantity: int | None
    produced_on: str | None
    expires_on: str | None
    port: str | None
    declarant_uscc: str | None
    declared_entry: int | None
    inspection: InspectionView | None  # the latest by inspection date
    recalled: bool
    recall_entries: list[int]  # open recalls that cover this batch
    codes: int  # traceability codes issued
    codes_entries: list[int]
    tree_size: int
    entries: list[int]


# --- helpers -------------------------------------------------------------------------


def _identifier(value: str, field: str, normalise: Callable[[str], str]) -> str:
    try:
        return normalise(value)
    except IdentifierError as exc:
        raise bad_request(f"{field} {quoted(value)} is not valid: {exc}", field=field) from exc


def _batch_id(value: str) -> str:
    if not _BATCH.match(value):
        raise bad_request(
            f"batch {quoted(value)} is not valid: 1 to 20 characters of "
            "A-Z, a-z, 0-9, '.', '_' and '-'",
            field="batch",
        )
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _json_list(value: Any) -> list[str]:
    if value is None:
        return []
    loaded = json.loads(value)
    return [str(v) for v in loaded] if isinstance(loaded, list) else []


def _entries(*groups: Iterable[int | None]) -> list[int]:
    return sorted({i for group in groups for i in group if i is not None})


def _tree_size(ledger: Ledger, conn: Connection) -> int:
    checkpoint = ledger.latest_checkpoint(conn)
    return checkpoint.size if checkpoint else 0


def today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()


def public_violations(rows: Iterable[Any], policy: Policy, today: dt.date) -> list[ViolationView]:
    """The unrevoked violations among ``rows`` that the disclosure rules let the public see."""
    shown: list[ViolationView] = []
    for row in rows:
        if row["revoked_entry"] is not None:
            continue
        item = policy.item(str(row["item"]))
        severity = item.severity if item else None
        occurred_on = dt.date.fromisoformat(str(row["occurred_on"]))
        if not is_disclosed(severity, occurred_on, today, policy):
            continue
        assert severity is not None
        shown.append(
            ViolationView(
                str(row["item"]),
                severity,
                str(row["occurred_on"]),
                str(row["case_no"]),
                int(row["entry"]),
            )
        )
    shown.sort(key=lambda v: (v.occurred_on, v.entry), reverse=True)
    return shown


# --- reads ---------------------------------------------------------------------------


def enterprise_profile(
    conn: Connection, ledger: Ledger, uscc: str, policy: Policy, today: dt.date
) -> EnterpriseProfile | None:
    ent = LIVE["proj_enterprises"]
    row = conn.execute(select(ent).where(ent.c.uscc == uscc)).mappings().first()
    if row is None:
        return None
    prod = LIVE["proj_products"]
    products = conn.execute(
        select(func.count())
        .select_from(prod)
        .where(prod.c.owner_uscc == uscc, prod.c.status == "active")
    ).scalar_one()
    sanc = LIVE["proj_sanctions"]
    sanctions = [
        SanctionView(str(r["kind"]), str(r["on_date"]), int(r["entry"]))
        for r in conn.execute(
            select(sanc)
            .where(sanc.c.uscc == uscc)
            .order_by(sanc.c.on_date.desc(), sanc.c.entry.desc())
        ).mappings()
    ]
    viol = LIVE["proj_violations"]
    violations = public_violations(
        conn.execute(
            select(viol).where(viol.c.uscc == uscc, viol.c.revoked_entry.is_(None))
        ).mappings(),
        policy,
        today,
    )
    rec = LIVE["proj_recalls"]
    recalls = [
        EnterpriseRecallView(
            str(r["gtin"]),
            _opt_str(r["name"]),
            _json_list(r["batches"]),
            str(r["reason"]),
            str(r["issued_on"]),
            int(r["entry"]),
        )
        for r in conn.execute(
            select(rec, prod.c.name)
            .join(prod, prod.c.gtin == rec.c.gtin)
            .where(prod.c.owner_uscc == uscc, rec.c.closed_entry.is_(None))
            .order_by(rec.c.entry.desc())
        ).mappings()
    ]
    public = public_blacklist(str(row["blacklist"]))
    # A notice's entry is not named: the public sees a listing only (credit.disclosure).
    blacklist_entry = _opt_int(row["blacklist_entry"]) if public == row["blacklist"] else None
    own = [
        row["filed_entry"],
        row["updated_entry"],
        row["revoked_entry"],
        blacklist_entry,
        row["graded_entry"],
    ]
    return EnterpriseProfile(
        uscc=uscc,
        name=_opt_str(row["name"]),
        roles=_json_list(row["roles"]),
        address=_opt_str(row["address"]),
        country=_opt_str(row["country"]),
        filed_on=_opt_str(row["filed_on"]),
        status=str(row["status"]),
        blacklist=public,
        blacklist_entry=blacklist_entry,
        grade=_opt_str(row["grade"]),
        measures=measures_view(policy, _opt_str(row["grade"])),
        score=None,
        graded_entry=_opt_int(row["graded_entry"]),
        filed_entry=_opt_int(row["filed_entry"]),
        updated_entry=int(row["updated_entry"]),
        revoked_entry=_opt_int(row["revoked_entry"]),
        products=int(products),
        sanctions=sanctions,
        violations=violations,
        recalls=recalls,
        tree_size=_tree_size(ledger, conn),
        entries=_entries(
            (_opt_int(i) for i in own),
            (s.entry for s in sanctions),
            (v.entry for v in violations),
            (r.entry for r in recalls),
        ),
    )


def product_view(conn: Connection, ledger: Ledger, gtin: str) -> ProductView | None:
    prod = LIVE["proj_products"]
    row = conn.execute(select(prod).where(prod.c.gtin == gtin)).mappings().first()
    if row is None:
        return None
    owner_uscc = _opt_str(row["owner_uscc"])
    owner = None
    if owner_uscc is not None:
        ent = LIVE["proj_enterprises"]
        owner = (
            conn.execute(select(ent.c.name, ent.c.updated_entry).where(ent.c.uscc == owner_uscc))
            .mappings()
            .first()
        )
    rec = LIVE["proj_recalls"]
    recalls = [
        RecallView(
            gtin,
            _json_list(r["batches"]),
            str(r["reason"]),
            str(r["issued_on"]),
            r["closed_entry"] is None,
            int(r["entry"]),
            _opt_int(r["closed_entry"]),
        )
        for r in conn.execute(
            select(rec).where(rec.c.gtin == gtin).order_by(rec.c.entry.desc())
        ).mappings()
    ]
    bat = LIVE["proj_batches"]
    batches = conn.execute(
        select(func.count())
        .select_from(bat)
        .where(bat.c.gtin == gtin, bat.c.declared_entry.is_not(None))
    ).scalar_one()
    owner_entry = None if owner is None else _opt_int(owner["updated_entry"])
    return ProductView(
        gtin=gtin,
        name=_opt_str(row["name"]),
        hs_code=_opt_str(row["hs_code"]),
        origin_country=_opt_str(row["origin_country"]),
        owner_uscc=owner_uscc,
        owner_name=None if owner is None else _opt_str(owner["name"]),
        risk_class=_opt_str(row["risk_class"]),
        status=str(row["status"]),
        filed_entry=_opt_int(row["filed_entry"]),
        revoked_entry=_opt_int(row["revoked_entry"]),
        owner_entry=owner_entry,
        recalls=recalls,
        batches=int(batches),
        tree_size=_tree_size(ledger, conn),
        entries=_entries(
            (_opt_int(row["filed_entry"]), _opt_int(row["revoked_entry"]), owner_entry),
            (r.entry for r in recalls),
            (r.closed_entry for r in recalls),
        ),
    )


def batch_view(conn: Connection, ledger: Ledger, gtin: str, batch: str) -> BatchView | None:
    bat = LIVE["proj_batches"]
    row = (
        conn.execute(select(bat).where(bat.c.gtin == gtin, bat.c.batch == batch)).mappings().first()
    )
    if row is None:
        return None
    # The row carries its latest inspection by date (see ledger.records.state.apply).
    inspection = (
        None
        if row["inspection_entry"] is None
        else InspectionView(
            str(row["outcome"]), str(row["inspected_on"]), int(row["inspection_entry"])
        )
    )
    rec = LIVE["proj_recalls"]
    recall_entries = [
        int(r["entry"])
        for r in conn.execute(
            select(rec.c.entry, rec.c.batches)
            .where(rec.c.gtin == gtin, rec.c.closed_entry.is_(None))
            .order_by(rec.c.entry)
        ).mappings()
        if not _json_list(r["batches"]) or batch in _json_list(r["batches"])
    ]
    codes = LIVE["proj_code_batches"]
    codes_entries = [
        int(i)
        for i in conn.execute(
            select(codes.c.entry)
            .where(codes.c.gtin == gtin, codes.c.batch == batch)
            .order_by(codes.c.entry)
        ).scalars()
    ]
    declared_entry = _opt_int(row["declared_entry"])
    return BatchView(
        gtin=gtin,
        batch=batch,
        quantity=_opt_int(row["quantity"]),
        produced_on=_opt_str(row["produced_on"]),
        expires_on=_opt_str(row["expires_on"]),
        port=_opt_str(row["port"]),
        declarant_uscc=_opt_str(row["declarant_uscc"]),
        declared_entry=declared_entry,
        inspection=inspection,
        recalled=bool(recall_entries),
        recall_entries=recall_entries,
        codes=int(row["codes"] or 0),
        codes_entries=codes_entries,
        tree_size=_tree_size(ledger, conn),
        entries=_entries(
            (declared_entry, None if inspection is None else inspection.entry),
            recall_entries,
            codes_entries,
        ),
    )


# --- routes --------------------------------------------------------------------------

View = TypeVar("View", EnterpriseProfile, ProductView, BatchView)


def cached(  # noqa: PLR0917 - what one cached read needs
    cache: ResponseCache | None,
    kind: str,
    ident: str,
    type_: type[View],
    read: Callable[[], View | None],
    deps: Callable[[View], tuple[str, ...]],
) -> View | None:
    """``read()``, through the response cache when there is one (lookup_api.cache)."""
    if cache is None:
        return read()

    def fresh() -> Fresh[View] | None:
        view = read()
        return None if view is None else Fresh(view, view.tree_size, deps(view))

    return cache.fetch(kind, ident, type_, fresh)


UsccPath = Annotated[
    str,
    PathParameter(
        description="Unified social credit code (18 characters, any case)",
        schema_extra=USCC_SCHEMA,
    ),
]
GtinPath = Annotated[
    str, PathParameter(description="GTIN-8, -12, -13 or -14", schema_extra=GTIN_SCHEMA)
]
BatchPath = Annotated[
    str,
    PathParameter(
        description="Batch or lot number",
        schema_extra=ecma_patterns({"pattern": BATCH_PATTERN}),
    ),
]


@dataclass
class ProfileOperation(Operation):
    """The profile answers JSON, or a page to a client that prefers text/html."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        content = schema["responses"]["200"].setdefault("content", {})
        content[HTML] = {"schema": {"type": "string"}}
        return schema


class StateController(Controller):
    tags = ["state"]  # noqa: RUF012

    @get(
        "/v1/enterprises/{uscc:str}",
        sync_to_thread=True,
        summary="Public enterprise profile (JSON; a page for Accept: text/html)",
        responses={
            200: ResponseSpec(
                data_container=EnterpriseProfile,
                media_type=JSON,
                generate_examples=False,  # its examples would hold Structs, not JSON
                description="The profile as JSON, or as an HTML page when the Accept header "
                "prefers text/html (q-values honoured; JSON when they tie)",
            ),
            **problem_responses(400, 404),
        },
        operation_class=ProfileOperation,
    )
    def enterprise(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        uscc: UsccPath,
        lang: Annotated[
            str | None,
            QueryParameter(description="the page's language: zh (default) or en", max_length=16),
        ] = None,
    ) -> Response[Any]:
        code = _identifier(uscc, "uscc", normalise_uscc)
        policy = load_policy()
        today = today_in_china()

        def read() -> EnterpriseProfile | None:
            with read_transaction(services.engine) as conn:
                return enterprise_profile(conn, services.ledger, code, policy, today)

        profile = cached(
            services.cache,
            "profile",
            f"{code}@{today.isoformat()}",
            EnterpriseProfile,
            read,
            lambda p: (enterprise_dep(code),),
        )
        if profile is None:
            raise not_found(f"no enterprise {code} is filed")
        # One URL, two representations: a shared cache keeps them apart by Accept.
        headers = {**CACHE, "Vary": "Accept, Accept-Language"}
        if preferred_media_type(request.headers.get("accept"), (JSON, HTML)) != HTML:
            return Response(profile, media_type=JSON, headers=headers)
        from lookup_api.routes.state.profile_page import render  # it imports these views

        query = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        shell = Shell(language_of(request), f"/v1/enterprises/{code}", query)
        # Public facts: cached like the JSON, unlike the officers' pages.
        return html_response(render(profile, policy, shell), lang=shell.lang, headers=headers)

    @get(
        "/v1/products/{gtin:str}",
        sync_to_thread=True,
        summary="Product, owner and recalls",
        responses=problem_responses(400, 404),
    )
    def product(self, services: ServicesDep, gtin: GtinPath) -> Response[ProductView]:
        code = _identifier(gtin, "gtin", normalise_gtin)

        def read() -> ProductView | None:
            with read_transaction(services.engine) as conn:
                return product_view(conn, services.ledger, code)

        def deps(view: ProductView) -> tuple[str, ...]:
            owner = () if view.owner_uscc is None else (enterprise_dep(view.owner_uscc),)
            return (product_dep(code), batches_dep(code), *owner)

        view = cached(services.cache, "product", code, ProductView, read, deps)
        if view is None:
            raise not_found(f"no product {code} is filed")
        return Response(view, headers=CACHE)

    @get(
        "/v1/batches/{gtin:str}/{batch:str}",
        sync_to_thread=True,
        summary="Batch: declaration, latest inspection, recall, codes",
        responses=problem_responses(400, 404),
    )
    def batch(self, services: ServicesDep, gtin: GtinPath, batch: BatchPath) -> Response[BatchView]:
        code = _identifier(gtin, "gtin", normalise_gtin)
        lot = _batch_id(batch)

        def read() -> BatchView | None:
            with read_transaction(services.engine) as conn:
                return batch_view(conn, services.ledger, code, lot)

        view = cached(
            services.cache,
            "batch",
            f"{code}/{lot}",
            BatchView,
            read,
            lambda v: (product_dep(code), batch_dep(code, lot)),
        )
        if view is None:
            raise not_found(f"no batch {lot} of product {code} is known")
        return Response(view, headers=CACHE)
