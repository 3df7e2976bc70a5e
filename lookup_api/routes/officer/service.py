"""What the officers' pages read, apart from HTTP: enterprise search and the blacklist
with its due-process dates. Grades, reasons and proposals come from the credit routes'
service; dates are the due-process rules' own (``credit.due_process``, and the ledger's
listing wait), shown, not recomputed here."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Select, and_, or_, select

from credit.due_process import Refusal, removal_refusal
from credit.policy import Policy
from credit.store import load_facts
from ledger.records.handlers import SERVICE_KINDS
from ledger.records.handlers.blacklist import listing_allowed_from
from ledger.records.json_input import JsonInputError, loads
from ledger.records.kinds import RECORD_TYPES
from ledger.records.tables import LIVE
from ledger.store.engine import read_transaction
from ledger.store.sql import is_sqlite_dialect
from lookup_api.wiring import Services

PAGE_SIZE = 20
MAX_QUERY = 100  # characters of a search
MAX_PAGE = 100_000  # deeper than any register; keeps the SQL offset far inside int64


@dataclass(frozen=True)
class EnterpriseHit:
    uscc: str
    name: str | None
    roles: tuple[str, ...]
    status: str
    grade: str | None
    blacklist: str


@dataclass(frozen=True)
class SearchPage:
    query: str
    page: int  # from 1
    hits: tuple[EnterpriseHit, ...]
    more: bool  # a next page exists


def _roles(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    found = json.loads(value)
    return tuple(str(r) for r in found) if isinstance(found, list) else ()


# Above every character a name or USCC holds: ``column <= prefix + LAST`` bounds a prefix.
LAST = "\U0010ffff"


def _starts_with(column: Any, prefix: str) -> Any:
    """``column`` begins with ``prefix``, as a range a B-tree index answers (SQLite's LIKE
    is case-insensitive, so its index never serves a LIKE on a case-sensitive column)."""
    return and_(column >= prefix, column <= prefix + LAST)


def name_or_uscc(dialect: str, query: str) -> Any:
    """The search condition, served by an index on either database: on PostgreSQL a name
    that contains ``query`` (the pg_trgm index), on SQLite a name that begins with it (its
    B-tree); on both a USCC that begins with it, in any case. ``%``, ``_`` and the escape
    character match as themselves, never as LIKE wildcards."""
    ent = LIVE["proj_enterprises"]
    if is_sqlite_dialect(dialect):
        return or_(_starts_with(ent.c.uscc, query.upper()), _starts_with(ent.c.name, query))
    return or_(
        ent.c.uscc.startswith(query.upper(), autoescape=True),
        ent.c.name.contains(query, autoescape=True),
    )


def search_statement(dialect: str, query: str, page: int) -> Select[Any]:
    """One page of the search, by USCC (one row more than a page: is there a next?)."""
    ent = LIVE["proj_enterprises"]
    statement = select(
        ent.c.uscc, ent.c.name, ent.c.roles, ent.c.status, ent.c.grade, ent.c.blacklist
    )
    if query:
        statement = statement.where(name_or_uscc(dialect, query))
    return statement.order_by(ent.c.uscc).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)


def search_enterprises(services: Services, query: str, page: int) -> SearchPage:
    """Enterprises matching ``query`` (``name_or_uscc``), by USCC; an empty query lists
    every enterprise."""
    statement = search_statement(services.engine.dialect.name, query, page)
    with read_transaction(services.engine) as conn:
        rows = conn.execute(statement).all()
    hits = tuple(
        EnterpriseHit(r.uscc, r.name, _roles(r.roles), r.status, r.grade, r.blacklist)
        for r in rows[:PAGE_SIZE]
    )
    return SearchPage(query, page, hits, len(rows) > PAGE_SIZE)


@dataclass(frozen=True)
class BlacklistStanding:
    uscc: str
    name: str | None
    standing: str  # noticed, listed
    entry: int  # the notice's or the listing's entry
    reason: str
    noticed_on: dt.date | None
    noticed_entry: int | None
    listed_on: dt.date | None
    listed_entry: int | None
    listing_allowed_from: dt.datetime | None  # noticed: the earliest listing (UTC)
    removal_allowed_on: dt.date | None  # listed: the first day removal is allowed
    removal_refused: Refusal | None  # listed: why removal is refused today, if it is


def blacklist_of(services: Services, policy: Policy, today: dt.date) -> list[BlacklistStanding]:
    """Every noticed or listed enterprise with its due-process dates, by USCC."""
    ent = LIVE["proj_enterprises"]
    events = LIVE["proj_blacklist_events"]
    with read_transaction(services.engine) as conn:
        rows = conn.execute(
            select(
                ent.c.uscc,
                ent.c.name,
                ent.c.blacklist,
                ent.c.blacklist_entry,
                ent.c.noticed_time,
                events.c.reason,
            )
            .join(events, events.c.entry == ent.c.blacklist_entry)
            .where(ent.c.blacklist.in_(("noticed", "listed")))
            .order_by(ent.c.uscc)
        ).all()
        facts = load_facts(conn, [r.uscc for r in rows], declarations=False, include_revoked=True)
    out = []
    for r in rows:
        history = facts[r.uscc].blacklist if r.uscc in facts else ()
        noticed = next((e for e in reversed(history) if e.event == "noticed"), None)
        listed = history[-1] if history and history[-1].event == "listed" else None
        refusal = None
        if r.blacklist == "listed" and r.uscc in facts:
            refusal = removal_refusal(facts[r.uscc], policy, today)
        out.append(
            BlacklistStanding(
                uscc=r.uscc,
                name=r.name,
                standing=r.blacklist,
                entry=int(r.blacklist_entry),
                reason=r.reason,
                noticed_on=None if noticed is None else noticed.on,
                noticed_entry=None if noticed is None else noticed.entry,
                listed_on=None if listed is None else listed.on,
                listed_entry=None if listed is None else listed.entry,
                listing_allowed_from=listing_allowed_from(r.noticed_time)
                if r.blacklist == "noticed" and r.noticed_time
                else None,
                removal_allowed_on=None
                if r.blacklist != "listed"
                else (today if refusal is None else refusal.allowed_on),
                removal_refused=refusal,
            )
        )
    return out


# --- the record form -------------------------------------------------------------------

# What an officer may file by hand: every kind but those the service writes itself.
FORM_KINDS = tuple(sorted(k for k in RECORD_TYPES if k not in SERVICE_KINDS))
_INTEGER = re.compile(r"-?[0-9]{1,19}")


class FormInputError(Exception):
    """The form's payload cannot be read (not JSON, not an object)."""


@dataclass(frozen=True)
class FormField:
    name: str
    kind: str  # text, date, integer, boolean, list
    required: bool
    item: str = "text"  # a list's items: text or integer


def _kind_of(info: msgspec.inspect.Type) -> str:
    if isinstance(info, msgspec.inspect.UnionType):
        others = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return _kind_of(others[0]) if len(others) == 1 else "text"
    if isinstance(info, msgspec.inspect.BoolType):
        return "boolean"
    if isinstance(info, msgspec.inspect.IntType):
        return "integer"
    if isinstance(info, msgspec.inspect.DateType):
        return "date"
    if isinstance(info, msgspec.inspect.ListType):
        return "list"
    return "text"


def form_fields(kind: str) -> tuple[FormField, ...]:
    """The payload fields of ``kind``, as its schema declares them."""
    info = msgspec.inspect.type_info(RECORD_TYPES[kind])
    assert isinstance(info, msgspec.inspect.StructType)
    fields = []
    for f in info.fields:
        item = "text"
        inner = f.type
        if isinstance(inner, msgspec.inspect.UnionType):
            inner = next(t for t in inner.types if not isinstance(t, msgspec.inspect.NoneType))
        if isinstance(inner, msgspec.inspect.ListType):
            item = _kind_of(inner.item_type)
        fields.append(FormField(f.encode_name, _kind_of(f.type), f.required, item))
    return tuple(fields)


def _value(text: str, kind: str) -> Any:
    """A field's text as its JSON value; text that is not one is passed on as it is, so
    the record's schema names the field in its refusal."""
    if kind == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def payload_from_form(kind: str, values: dict[str, str], payload_json: str) -> dict[str, Any]:
    """The payload the form describes: the pasted JSON when there is some, else the
    fields (empty optional ones left out; a list is comma-separated)."""
    if payload_json.strip():
        try:
            found = loads(payload_json)
        except JsonInputError as exc:
            raise FormInputError(f"payload: {exc}") from exc
        if not isinstance(found, dict):
            raise FormInputError("payload: the JSON must be an object of the record's fields")
        return found
    payload: dict[str, Any] = {}
    for field in form_fields(kind):
        text = values.get(field.name, "").strip()
        if field.kind == "list":
            if text or field.required:
                items = [part.strip() for part in text.split(",") if part.strip()]
                payload[field.name] = [_value(i, field.item) for i in items]
        elif text:
            payload[field.name] = _value(text, field.kind)
    return payload
