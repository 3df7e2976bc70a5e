"""What a Digital Link names, read from the projections in one snapshot, and its links.

An unknown batch or serial walks up to the level that is known (GS1-Conformant Resolver
rule: answer for the GTIN rather than 404) and the answer says so; an unknown GTIN is
the one thing not found. The linkset (RFC 9264, JSON) is the same for every
representation: the consumer page, the JSON facts and ``application/linkset+json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ledger.store.engine import read_transaction
from ledger.store.sql import placeholders
from lookup_api.routes.codes.service import GENUINE, REVOKED, CodeState, code_state
from lookup_api.routes.state.controller import BatchView, ProductView, batch_view, product_view
from lookup_api.wiring import Services
from qr.links import DigitalLink

GS1_VOC = "https://gs1.org/voc/"
DEFAULT_LINK = "defaultLink"
# The link types every answer carries, and what ?linkType= may name (with gs1: or in full).
LINK_TYPES = ("pip", "traceability", "certificationInfo", "recallStatus", "verificationService")
LINKSET_TYPES = frozenset({"linkset", "all"})
PAGE_PREFIX = "/info"  # the consumer page: the one gs1:defaultLink
LANGUAGES = ["zh-CN", "en"]


@dataclass(frozen=True)
class OwnerView:
    """What a consumer is told of the product's owner (its public profile has the rest)."""

    uscc: str
    name: str | None
    status: str
    grade: str | None  # the latest credit.graded, as the projection holds it
    graded_entry: int | None
    blacklist: str  # none, noticed, listed


def owner_view(conn: Connection, uscc: str) -> OwnerView | None:
    row = conn.exec_driver_sql(
        placeholders(
            conn,
            "SELECT uscc, name, status, grade, graded_entry, blacklist FROM proj_enterprises "
            "WHERE uscc = ?",
        ),
        (uscc,),
    ).first()
    if row is None:
        return None
    graded = None if row[4] is None else int(row[4])
    name = None if row[1] is None else str(row[1])
    grade = None if row[3] is None else str(row[3])
    return OwnerView(str(row[0]), name, str(row[2]), grade, graded, str(row[5]))


@dataclass
class Resolution:
    requested: DigitalLink
    resolved: DigitalLink  # the level that is known
    product: ProductView
    batch: BatchView | None
    code: CodeState | None  # when a serial was asked for
    owner: OwnerView | None
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        if self.resolved.serial is not None:
            return "serial"
        return "batch" if self.resolved.batch is not None else "gtin"


def resolve(services: Services, link: DigitalLink) -> Resolution | None:
    """The facts behind ``link``; None when its GTIN is not filed."""
    with read_transaction(services.engine) as conn:
        product = product_view(conn, services.ledger, link.gtin)
        if product is None:
            return None
        batch = None
        if link.batch is not None:
            batch = batch_view(conn, services.ledger, link.gtin, link.batch)
            if batch is not None and batch.declared_entry is None:
                batch = None
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
