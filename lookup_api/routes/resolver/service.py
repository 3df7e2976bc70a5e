"""What a Digital Link names, read from the projections in one snapshot, and its links.

An unknown batch or serial walks up to the level that is known (GS1-Conformant Resolver
rule: answer for the GTIN rather than 404) and the answer says so; an unknown GTIN is
the one thing not found. The linkset (RFC 9264, JSON) is the same for every
representation: the consumer page, the JSON facts and ``application/linkset+json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ledger.store.engine import read_transaction
from ledger.store.log import Ledger
from ledger.store.sql import placeholders
from lookup_api.cache import Fresh, batch_dep, enterprise_dep, product_dep
from lookup_api.routes.codes.service import GENUINE, REVOKED, CodeState, code_state
from lookup_api.wiring import Services
from qr.links import DigitalLink

GS1_VOC = "https://gs1.org/voc/"
DEFAULT_LINK = "defaultLink"
# The link types every answer carries, and what ?linkType= may name (with gs1: or in full).
LINK_TYPES = ("pip", "traceability", "certificationInfo", "recallStatus", "verificationService")
LINKSET_TYPES = frozenset({"linkset", "all"})
PAGE_PREFIX = "/info"  # the consumer page: the one gs1:defaultLink
LANGUAGES = ["zh-CN", "en"]


# The resolver answers every scan: its reads are a few indexed statements of literal SQL,
# only the columns a consumer is shown (the /v1 state views have the rest).


@dataclass(frozen=True)
class RecallFacts:
    batches: list[str]  # empty: every batch of the product
    reason: str
    issued_on: str
    entry: int
    open: bool = True


@dataclass(frozen=True)
class ProductFacts:
    gtin: str
    name: str | None
    origin_country: str | None
    owner_uscc: str | None
    owner_name: str | None
    status: str
    filed_entry: int | None
    recalls: list[RecallFacts]  # the open ones, newest first
    tree_size: int  # the latest signed checkpoint when read


@dataclass(frozen=True)
class InspectionFacts:
    outcome: str
    inspected_on: str
    entry: int
    accepted_third_party: bool  # 采信: a third party's result was accepted


@dataclass(frozen=True)
class BatchFacts:
    batch: str
    produced_on: str | None
    expires_on: str | None
    port: str | None
    declared_entry: int
    inspection: InspectionFacts | None  # the latest by inspection date


@dataclass(frozen=True)
class OwnerView:
    """What a consumer is told of the product's owner (its public profile has the rest)."""

    uscc: str
    name: str | None
    status: str
    grade: str | None  # the latest credit.graded, as the projection holds it
    graded_entry: int | None
    blacklist: str  # none, noticed, listed


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _one(conn: Connection, sql: str, *values: Any) -> Any:
    return conn.exec_driver_sql(placeholders(conn, sql), values).first()


def owner_view(conn: Connection, uscc: str) -> OwnerView | None:
    row = _one(
        conn,
        "SELECT uscc, name, status, grade, graded_entry, blacklist FROM proj_enterprises "
        "WHERE uscc = ?",
        uscc,
    )
    if row is None:
        return None
    return OwnerView(
        str(row[0]), _opt(row[1]), str(row[2]), _opt(row[3]), _opt_int(row[4]), str(row[5])
    )


def product_facts(conn: Connection, ledger: Ledger, gtin: str) -> ProductFacts | None:
    row = _one(
        conn,
        "SELECT p.gtin, p.name, p.origin_country, p.owner_uscc, e.name, p.status, p.filed_entry "
        "FROM proj_products p LEFT JOIN proj_enterprises e ON e.uscc = p.owner_uscc "
        "WHERE p.gtin = ?",
        gtin,
    )
    if row is None:
        return None
    recalls = [
        RecallFacts([str(b) for b in json.loads(batches)], str(reason), str(on), int(entry))
        for entry, batches, reason, on in conn.exec_driver_sql(
            placeholders(
                conn,
                "SELECT entry, batches, reason, issued_on FROM proj_recalls "
                "WHERE gtin = ? AND closed_entry IS NULL ORDER BY entry DESC",
            ),
            (gtin,),
        )
    ]
    checkpoint = ledger.latest_checkpoint(conn)
    return ProductFacts(
        gtin=str(row[0]),
        name=_opt(row[1]),
        origin_country=_opt(row[2]),
        owner_uscc=_opt(row[3]),
        owner_name=_opt(row[4]),
        status=str(row[5]),
        filed_entry=_opt_int(row[6]),
        recalls=recalls,
        tree_size=0 if checkpoint is None else checkpoint.size,
    )


def batch_facts(conn: Connection, gtin: str, batch: str) -> BatchFacts | None:
    """A declared batch with its latest inspection; None when it is not declared."""
    row = _one(
        conn,
        "SELECT b.batch, b.produced_on, b.expires_on, b.port, b.declared_entry, i.outcome, "
        "i.inspected_on, i.entry, i.accepted_third_party FROM proj_batches b "
        "LEFT JOIN proj_inspections i ON i.entry = b.inspection_entry "
        "WHERE b.gtin = ? AND b.batch = ? AND b.declared_entry IS NOT NULL",
        gtin,
        batch,
    )
    if row is None:
        return None
    inspection = (
        None
        if row[7] is None
        else InspectionFacts(str(row[5]), str(row[6]), int(row[7]), bool(row[8]))
    )
    return BatchFacts(
        str(row[0]), _opt(row[1]), _opt(row[2]), _opt(row[3]), int(row[4]), inspection
    )


@dataclass
class Resolution:
    requested: DigitalLink
    resolved: DigitalLink  # the level that is known
    product: ProductFacts
    batch: BatchFacts | None
    code: CodeState | None  # when a serial was asked for
    owner: OwnerView | None
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        if self.resolved.serial is not None:
            return "serial"
        return "batch" if self.resolved.batch is not None else "gtin"


def resolve(services: Services, link: DigitalLink) -> Resolution | None:
    """The facts behind ``link``; None when its GTIN is not filed (lookup_api.cache)."""
    if services.cache is None:
        return read_resolution(services, link)
    return services.cache.fetch(
        "resolve", link.path(), Resolution, lambda: cacheable(read_resolution(services, link))
    )


def cacheable(found: Resolution | None) -> Fresh[Resolution] | None:
    """``found`` with what it depends on, not to be kept for a guessed or copied serial
    (see lookup_api.cache); None when nothing was found."""
    if found is None:
        return None
    link, product = found.requested, found.product
    keep = found.code is None or found.code.status in (GENUINE, REVOKED)
    deps = [product_dep(link.gtin)]
    if link.batch is not None:
        deps.append(batch_dep(link.gtin, link.batch))
    if product.owner_uscc is not None:
        deps.append(enterprise_dep(product.owner_uscc))
    return Fresh(found, product.tree_size, tuple(deps), keep)


def read_resolution(services: Services, link: DigitalLink) -> Resolution | None:
    """``resolve`` from the database, in one snapshot."""
    with read_transaction(services.engine) as conn:
        product = product_facts(conn, services.ledger, link.gtin)
        if product is None:
            return None
        batch = None if link.batch is None else batch_facts(conn, link.gtin, link.batch)
        code = None
        if link.serial is not None and link.batch is not None:
            code = code_state(conn, link.gtin, link.batch, link.serial)
        owner = None if product.owner_uscc is None else owner_view(conn, product.owner_uscc)
    return _walk_up(Resolution(link, link, product, batch, code, owner))


def _walk_up(found: Resolution) -> Resolution:
    link = found.requested
    if link.batch is not None and found.batch is None:
        found.resolved = DigitalLink(link.gtin)
        found.notes.append(
            f"batch {link.batch} of this product is not declared: answering for the product"
        )
        if link.serial is not None:
            found.notes.append(f"code {link.serial} is not genuine: its batch is not declared")
        return found
    if found.code is not None and found.code.status not in (GENUINE, REVOKED):
        found.resolved = link.up()
        found.notes.append(found.code.detail)
    return found


def _target(href: str, title: str, kind: str) -> dict[str, Any]:
    return {"href": href, "title": title, "type": kind, "hreflang": LANGUAGES}


def links(found: Resolution, base: str) -> dict[str, list[dict[str, Any]]]:
    """The link targets by link type (short names), for the resolved identifiers."""
    resolved = found.resolved
    page = f"{base}{PAGE_PREFIX}{found.requested.path()}"
    gtin = resolved.gtin
    out: dict[str, list[dict[str, Any]]] = {}
    out[DEFAULT_LINK] = [_target(page, "产品信息 Product information", "text/html")]
    out["pip"] = out[DEFAULT_LINK]
    trace = (
        f"{base}/v1/batches/{gtin}/{resolved.batch}"
        if resolved.batch is not None
        else f"{base}/v1/products/{gtin}"
    )
    out["traceability"] = [
        _target(trace, "申报与检验 Declaration and inspection", "application/json")
    ]
    if found.product.owner_uscc is not None:
        out["certificationInfo"] = [
            _target(
                f"{base}/v1/enterprises/{found.product.owner_uscc}",
                "企业信用等级 Enterprise credit grade",
                "application/json",
            )
        ]
    out["recallStatus"] = [
        _target(f"{base}/v1/products/{gtin}", "召回 Recalls", "application/json")
    ]
    if resolved.serial is not None and resolved.batch is not None:
        verify = f"{base}/v1/codes/{gtin}/{resolved.batch}/{resolved.serial}"
        out["verificationService"] = [
            _target(verify, "防伪验证 Code verification", "application/json"),
            _target(verify + "/proof", "账本证明 Ledger proof", "application/json"),
        ]
    else:
        out["verificationService"] = [
            _target(f"{base}/v1/codes/keys", "验证密钥 Code verifier keys", "text/plain")
        ]
    return out


def linkset(found: Resolution, base: str) -> dict[str, Any]:
    """The RFC 9264 JSON linkset, link relation types as GS1 vocabulary URIs."""
    context: dict[str, Any] = {"anchor": f"{base}{found.requested.path()}"}
    if found.product.name:
        context["itemDescription"] = found.product.name
    for name, targets in links(found, base).items():
        context[GS1_VOC + name] = targets
    return {"linkset": [context]}


def link_type(value: str) -> str | None:
    """``gs1:pip`` or ``https://gs1.org/voc/pip`` as ``pip``; None when unknown."""
    for prefix in ("gs1:", GS1_VOC, "http://gs1.org/voc/", "https://www.gs1.org/voc/"):
        if value.startswith(prefix):
            name = value[len(prefix) :]
            return name if name in (*LINK_TYPES, DEFAULT_LINK) else None
    return None
