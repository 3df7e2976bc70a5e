"""What a Digital Link names, read from the projections in one snapshot, and its links.

An unknown batch or serial walks up to the level that is known (GS1-Conformant Resolver
rule: answer for the GTIN rather than 404) and the answer says so; an unknown GTIN is
the one thing not found. A serial without a batch (``/01/{gtin}/21/{serial}``) is found
by itself: serials are unique across the register (``qr_codes`` is keyed by serial), and
its batch is the one it was issued under. A consumer product variant (AI 22) is read,
written back into the links and looked up nowhere. The linkset (RFC 9264, JSON) is the
same for every representation: the consumer page, the JSON facts and
``application/linkset+json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from ledger.store.engine import driver_statement, is_sqlite, read_statement, read_transaction
from ledger.store.sql import for_dialect, placeholders
from lookup_api.cache import Fresh, batch_dep, enterprise_dep, product_dep
from lookup_api.routes.codes.service import GENUINE, REVOKED, CodeState, judge_code, read_serial
from lookup_api.wiring import Services
from qr.links import DigitalLink
from qr.lookup import issued_code, revoking_entry

GS1_VOC = "https://gs1.org/voc/"
DEFAULT_LINK = "defaultLink"
# The link types every answer carries, and what ?linkType= may name (with gs1: or in full).
LINK_TYPES = ("pip", "traceability", "certificationInfo", "recallStatus", "verificationService")
LINKSET_TYPES = frozenset({"linkset", "all"})
PAGE_PREFIX = "/info"  # the consumer page: the one gs1:defaultLink
LANGUAGES = ["zh-CN", "en"]


# The resolver answers every scan: one statement of literal SQL reads the product, its
# owner, the batch with its latest inspection, the code with its issuance and the tree
# size, by primary keys and indexes; open recalls and revocations, rare, only when that
# row says there are some. Only the columns a consumer is shown (the /v1 views have the rest).


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


# The code's batch is the path's, or (no batch in the path) the one its serial was
# issued under for this GTIN. The columns of ``qr.lookup._ISSUED`` come in its order.
_RESOLVE = """
SELECT p.gtin, p.name, p.origin_country, p.owner_uscc, p.status, p.filed_entry,
  e.uscc, e.name, e.status, e.grade, e.graded_entry, e.blacklist,
  b.batch, b.produced_on, b.expires_on, b.port, b.declared_entry,
  i.outcome, i.inspected_on, i.entry, i.accepted_third_party,
  c.serial, c.gtin, c.batch, c.serials_root, c.position, cb.entry, cb.count, cb.key_id,
  (SELECT max(size) FROM ledger_checkpoints),
  EXISTS (SELECT 1 FROM proj_recalls r WHERE r.gtin = p.gtin AND r.closed_entry IS NULL),
  EXISTS (SELECT 1 FROM proj_code_revocations v WHERE v.gtin = c.gtin AND v.batch = c.batch)
FROM proj_products p
LEFT JOIN proj_enterprises e ON e.uscc = p.owner_uscc
LEFT JOIN qr_codes c ON c.serial = ?
LEFT JOIN proj_code_batches cb
  ON cb.serials_root = c.serials_root AND cb.gtin = c.gtin AND cb.batch = c.batch
LEFT JOIN proj_batches b ON b.gtin = p.gtin AND b.declared_entry IS NOT NULL
  AND b.batch = COALESCE(?, CASE WHEN c.gtin = p.gtin AND cb.entry IS NOT NULL THEN c.batch END)
LEFT JOIN proj_inspections i ON i.entry = b.inspection_entry
WHERE p.gtin = ?
"""
_OPEN_RECALLS = (
    "SELECT entry, batches, reason, issued_on FROM proj_recalls "
    "WHERE gtin = ? AND closed_entry IS NULL ORDER BY entry DESC"
)
_REVOCATIONS = (
    "SELECT entry, serials FROM proj_code_revocations WHERE gtin = ? AND batch = ? ORDER BY entry"
)


def _rows(conn: Connection, sql: str, *values: Any) -> list[Any]:
    return list(conn.exec_driver_sql(placeholders(conn, sql), values))


def _product(row: Any, recalls: list[RecallFacts]) -> ProductFacts:
    return ProductFacts(
        gtin=str(row[0]),
        name=_opt(row[1]),
        origin_country=_opt(row[2]),
        owner_uscc=_opt(row[3]),
        owner_name=_opt(row[7]),
        status=str(row[4]),
        filed_entry=_opt_int(row[5]),
        recalls=recalls,
        tree_size=int(row[29] or 0),
    )


def _owner(row: Any) -> OwnerView | None:
    if row[6] is None:
        return None
    return OwnerView(
        str(row[6]), _opt(row[7]), str(row[8]), _opt(row[9]), _opt_int(row[10]), str(row[11])
    )


def _batch(row: Any) -> BatchFacts | None:
    """A declared batch with its latest inspection; None when it is not declared."""
    if row[12] is None:
        return None
    inspection = (
        None
        if row[19] is None
        else InspectionFacts(str(row[17]), str(row[18]), int(row[19]), bool(row[20]))
    )
    return BatchFacts(
        str(row[12]), _opt(row[13]), _opt(row[14]), _opt(row[15]), int(row[16]), inspection
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


async def resolve_async(services: Services, link: DigitalLink) -> Resolution | None:
    """``resolve`` for the event loop: with Redis, the cache without blocking the loop
    and a miss's read in a worker thread (a cold code's index page may wait for the
    disk, and the hits behind it must not); without, the read in the loop (one indexed
    statement that waits for no lock takes less time than the hop to a thread)."""
    if services.cache is None:
        return read_resolution(services, link)
    return await services.cache.fetch_async(
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
    # /01/{gtin}/21/{serial} names no batch: the answer depends on the code's own batch.
    batch = link.batch if link.batch is not None else found.batch and found.batch.batch
    if batch:
        deps.append(batch_dep(link.gtin, batch))
    if product.owner_uscc is not None:
        deps.append(enterprise_dep(product.owner_uscc))
    return Fresh(found, product.tree_size, tuple(deps), keep)


def read_resolution(services: Services, link: DigitalLink) -> Resolution | None:
    """``resolve`` from the database, in one snapshot: one statement (one round trip on
    PostgreSQL) when the code's product has no open recall and its batch no revocation,
    as nearly always; otherwise that statement again and the rest in one transaction."""
    serial, refused = (None, None) if link.serial is None else read_serial(link.serial)
    values = (serial, link.batch, link.gtin)
    row = _resolve_row(services.engine, values)
    if row is not None and (row[30] or (serial is not None and row[31])):
        with read_transaction(services.engine) as conn:
            return _read_with_lists(conn, link, serial, refused, values)
    return _resolution(link, row, [], (serial, refused), None)


_RESOLVE_PG = for_dialect("postgresql", _RESOLVE)


def _resolve_row(engine: Engine, values: tuple[str | None, ...]) -> Any:
    """The resolve statement's row (by position, as ``_resolution`` reads it), or None.
    On PostgreSQL it is read on the driver's connection: SQLAlchemy's result read the
    statement's 32 column descriptions anew each time, half of a cache miss's read."""
    if is_sqlite(engine):
        with read_statement(engine) as conn:
            return conn.exec_driver_sql(placeholders(conn, _RESOLVE), values).first()
    with driver_statement(engine) as driver:
        return driver.execute(_RESOLVE_PG, values, prepare=True).fetchone()


def _read_with_lists(
    conn: Connection,
    link: DigitalLink,
    serial: str | None,
    refused: CodeState | None,
    values: tuple[str | None, ...],
) -> Resolution | None:
    """The resolve statement with the open recalls and revocations it says there are."""
    row = conn.exec_driver_sql(placeholders(conn, _RESOLVE), values).first()
    if row is None:
        return None
    recalls = []
    if row[30]:
        recalls = [
            RecallFacts([str(b) for b in json.loads(batches)], str(reason), str(on), int(e))
            for e, batches, reason, on in _rows(conn, _OPEN_RECALLS, link.gtin)
        ]
    revocations = None
    if serial is not None and row[26] is not None and row[31]:
        issued = issued_code(row[21:29])
        revocations = _rows(conn, _REVOCATIONS, issued.gtin, issued.batch)
    return _resolution(link, row, recalls, (serial, refused), revocations)


def _resolution(
    link: DigitalLink,
    row: Any,
    recalls: list[RecallFacts],
    asked: tuple[str | None, CodeState | None],
    revocations: list[Any] | None,
) -> Resolution | None:
    """The facts of a resolve statement's row; ``asked``: the serial read from the path,
    or the state of one refused as malformed."""
    if row is None:
        return None
    serial, code = asked
    if serial is not None:
        issued = None if row[26] is None else issued_code(row[21:29])
        revoked = None
        if issued is not None and revocations is not None:
            revoked = revoking_entry(revocations, serial)
        code = judge_code(serial, link.gtin, link.batch, issued, revoked)
    found = Resolution(link, link, _product(row, recalls), _batch(row), code, _owner(row))
    return _walk_up(found)


def _walk_up(found: Resolution) -> Resolution:
    """Set the level that is known (never the variant, which is looked up nowhere) and
    say why it is above the one asked for."""
    link = found.requested
    if link.variant is not None:
        found.notes.append(
            f"the consumer product variant (AI 22) {link.variant} is not recorded here: "
            "answering without it"
        )
    if link.batch is not None and found.batch is None:
        found.resolved = DigitalLink(link.gtin)
        found.notes.append(
            f"batch {link.batch} of this product is not declared: answering for the product"
        )
        if link.serial is not None:
            found.notes.append(f"code {link.serial} is not genuine: its batch is not declared")
        return found
    code = found.code
    if code is not None and code.code is not None and code.status in (GENUINE, REVOKED):
        # Without a batch in the path, the batch is the one the serial was issued under.
        found.resolved = DigitalLink(link.gtin, code.code.batch, code.serial)
        return found
    found.resolved = DigitalLink(link.gtin, link.batch)
    if code is not None:
        found.notes.append(code.detail)
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
