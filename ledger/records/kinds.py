"""Record kinds: one strict payload schema per kind (version 1), and its subject.

``parse_record(kind, payload)`` checks a payload, normalises it (identifiers
in stored form, text in NFC, roles sorted) and returns the record, its subject
and its canonical payload bytes. Rules that need other packages (a violation's
item must be in the active policy's catalogue) are passed in by the caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin, get_type_hints

import msgspec

from ledger.errors import InvalidInput
from ledger.records.ids import (
    IdentifierError,
    normalise_country,
    normalise_gtin,
    normalise_hs_code,
    normalise_uscc,
)
from ledger.tlog.envelope import REDACTION_KIND

SCHEMA_VERSION = 1
EARLIEST_DATE = dt.date(1900, 1, 1)

MULTILINE = "multiline"
"""Marks the text type whose values may hold line feeds and tabs: LongText."""

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=2000), MULTILINE]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
CaseNo = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
BATCH_PATTERN = r"^[0-9A-Za-z._-]{1,20}\Z"  # also what the routes accept in a path
Batch = Annotated[str, msgspec.Meta(pattern=BATCH_PATTERN)]
Port = Annotated[str, msgspec.Meta(pattern=r"^(?:[A-Z]{2}[A-Z2-9]{3}|[0-9]{4})\Z")]
DeclarationNo = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z-]{1,32}\Z")]
EntryIndex = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=10**12)]
Fen = Annotated[int, msgspec.Meta(ge=0, le=10**15)]
Hash32 = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{43}=\Z")]
KeyId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{8}\Z")]
Serial = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-HJKMNP-TV-Z]{12,26}\Z")]
PolicyId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9.-]{0,63}\Z")]
ItemId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9.-]{0,63}\Z")]

Role = Literal[
    "producer", "importer", "exporter", "cbec_platform", "customs_broker", "inspection_body"
]
RiskClass = Literal["low", "medium", "high"]
Outcome = Literal["conformant", "non_conformant"]
Channel = Literal["12365", "platform", "other"]
Grade = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_+-]{1,32}\Z")]


class RecordError(InvalidInput):
    """A record is refused; ``field`` names the payload field (or rule) concerned."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class UnknownKind(RecordError):
    """A kind with no schema or no handler: refused, never passed over."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown record kind {kind!r}; known: {', '.join(KINDS)}", "kind")
        self.kind = kind


# What no text field may hold, checked once for every string of every kind (names,
# free text, identifiers): C0 and C1 control characters (line feed and tab only in
# LongText);
# bidirectional controls, which make text display as other text (Trojan Source); and
# invisible format characters, which make two different names look the same.
_C0_C1 = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI_CHARS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = (
    "\u00ad\u180e\u200b\u2028\u2029\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_CONTROL = re.compile(f"[\t\n{_C0_C1}]")
_CONTROL_MULTILINE = re.compile(f"[{_C0_C1}]")
_REFUSED = re.compile(f"[{_BIDI_CHARS}{_INVISIBLE}]")
# Characters allowed (joiners, variation selectors, the grapheme joiner) or shown blank
# (Hangul fillers, the braille blank) that do not make a text visible on their own.
_BLANK = "\u034f\u115f\u1160\u180b-\u180d\u200c\u200d\u2800\u3164\ufe00-\ufe0f\uffa0"
_VISIBLE = re.compile(f"[^\\s{_BLANK}\U000e0100-\U000e01ef]")


def _nfc(value: str) -> str:
    value = value.strip()
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return value
    return unicodedata.normalize("NFC", value)


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _clean_text(value: str, field: str, multiline: bool = False) -> str:
    if value.isascii():  # most identifiers and codes: no surrogates, nothing to normalise
        value = value.strip()
    else:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RecordError("is not valid Unicode (lone surrogate)", field) from exc
        value = _nfc(value)
    if not value:
        raise RecordError("must not be blank", field)
    control = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if control:
        raise RecordError(f"contains a control character ({_code_point(control[0])})", field)
    if not value.isascii():  # ASCII text without controls and not blank shows something
        refused = _REFUSED.search(value)
        if refused:
            char = refused[0]
            what = "a bidirectional control" if char in _BIDI_CHARS else "an invisible"
            raise RecordError(
                f"contains {what} character ({_code_point(char)}), which would make the text "
                "display as other text",
                field,
            )
        if not _VISIBLE.search(value):
            raise RecordError("has no visible character", field)
    return value


def _leaf_types(hint: Any) -> Iterator[Any]:
    """The value types a field's hint admits: Annotated, unions and lists unwrapped; a
    Literal gives None (its values are fixed, so there is nothing to clean or check)."""
    origin = get_origin(hint)
    if origin is Annotated:
        yield from _leaf_types(get_args(hint)[0])
    elif origin is Literal:
        yield None
    elif origin is not None:  # a union (Optional) or a list
        for arg in get_args(hint):
            yield from _leaf_types(arg)
    else:
        yield hint


TEXT, DATE = "text", "date"
FieldPlan = tuple[tuple[str, str, bool], ...]  # (field, TEXT or DATE, multiline), in order


def _field_plan(cls: type) -> FieldPlan:
    """The fields of a payload schema that may hold text or a date, in declaration order,
    each with whether it is LongText (multiline): what __post_init__ cleans and checks."""

    def marked(hint: Any) -> bool:
        return MULTILINE in getattr(hint, "__metadata__", ()) or any(
            marked(arg) for arg in get_args(hint)
        )

    hints = get_type_hints(cls, include_extras=True)
    plan = []
    for name in cls.__struct_fields__:  # type: ignore[attr-defined]
        types = set(_leaf_types(hints[name]))
        if str in types:
            plan.append((name, TEXT, marked(hints[name])))
        elif any(isinstance(t, type) and issubclass(t, dt.date) for t in types):
            plan.append((name, DATE, False))
    return tuple(plan)


_FIELD_PLANS: dict[type, FieldPlan] = {}


class Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of every payload schema."""

    kind: ClassVar[str]
    # Dates that must not lie in the future (relative to the record's own time).
    past_dates: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        cls = type(self)
        plan = _FIELD_PLANS.get(cls)
        if plan is None:
            plan = _FIELD_PLANS.setdefault(cls, _field_plan(cls))
        for name, what, multiline in plan:
            value = getattr(self, name)
            if value is None:
                continue
            if what is DATE:
                if value < EARLIEST_DATE:
                    raise RecordError(f"{value} is before {EARLIEST_DATE}", name)
            elif isinstance(value, str):
                setattr(self, name, _clean_text(value, name, multiline))
            elif isinstance(value, list):
                setattr(
                    self,
                    name,
                    [_clean_text(v, f"{name}[{i}]", multiline) for i, v in enumerate(value)],
                )
        self.normalise()

    def normalise(self) -> None:
        """Kind-specific identifier normalisation and checks."""

    def subject(self) -> str:
        raise NotImplementedError

    def check_dates(self, today: dt.date) -> None:
        for name in self.past_dates:
            value = getattr(self, name)
            if value is not None and value > today:
                raise RecordError(f"{value} is in the future", name)


def _ident(record: Record, name: str, normalise: Callable[[str], str]) -> None:
    value = getattr(record, name)
    if value is None:
        return
    try:
        setattr(record, name, normalise(value))
    except IdentifierError as exc:
        raise RecordError(str(exc), name) from exc


class _Uscc(Record, kw_only=True):
    uscc: str

    def normalise(self) -> None:
        _ident(self, "uscc", normalise_uscc)

    def subject(self) -> str:
        return f"uscc:{self.uscc}"


class _Gtin(Record, kw_only=True):
    gtin: str

    def normalise(self) -> None:
        _ident(self, "gtin", normalise_gtin)

    def subject(self) -> str:
        return f"gtin:{self.gtin}"


class _Batch(_Gtin, kw_only=True):
    batch: Batch

    def subject(self) -> str:
        return f"batch:{self.gtin}/{self.batch}"


def _roles(roles: list[Role] | None) -> list[Role] | None:
    if roles is None:
        return None
    if not roles:
        raise RecordError("must name at least one role", "roles")
    return sorted(set(roles))


class EnterpriseFiled(_Uscc, kw_only=True):
    kind = "enterprise.filed"
    past_dates = ("filed_on",)
    name: Text
    roles: list[Role]
    address: Address
    country: str
    filed_on: dt.date

    def normalise(self) -> None:
        super().normalise()
        _ident(self, "country", normalise_country)
        self.roles = _roles(self.roles) or []


class EnterpriseAmended(_Uscc, kw_only=True):
    kind = "enterprise.amended"
    name: Text | None = None
    roles: list[Role] | None = None
    address: Address | None = None
    country: str | None = None

    def normalise(self) -> None:
        super().normalise()
        _ident(self, "country", normalise_country)
        self.roles = _roles(self.roles)
        if all(getattr(self, f) is None for f in ("name", "roles", "address", "country")):
            raise RecordError("an amendment must change name, roles, address or country", "name")


class EnterpriseRevoked(_Uscc, kw_only=True):
    kind = "enterprise.revoked"
    reason: LongText


class ProductFiled(_Gtin, kw_only=True):
    kind = "product.filed"
    name: Text
    hs_code: str
    origin_country: str
    owner_uscc: str
    risk_class: RiskClass

    def normalise(self) -> None:
        super().normalise()
        _ident(self, "hs_code", normalise_hs_code)
        _ident(self, "origin_country", normalise_country)
        _ident(self, "owner_uscc", normalise_uscc)


class ProductRevoked(_Gtin, kw_only=True):
    kind = "product.revoked"
    reason: LongText


class BatchDeclared(_Batch, kw_only=True):
    kind = "batch.declared"
    past_dates = ("produced_on",)
    quantity: Quantity
    produced_on: dt.date
    expires_on: dt.date | None = None
    port: Port
    declaration_no: DeclarationNo
    declarant_uscc: str

    def normalise(self) -> None:
        super().normalise()
        _ident(self, "declarant_uscc", normalise_uscc)
        if self.expires_on is not None and self.expires_on < self.produced_on:
            raise RecordError("must not be before produced_on", "expires_on")


class InspectionResult(_Batch, kw_only=True):
    kind = "inspection.result"
    past_dates = ("inspected_on",)
    outcome: Outcome
    items: Annotated[list[Text], msgspec.Meta(max_length=50)] | None = None
    inspected_on: dt.date
    body_uscc: str | None = None
    accepted_third_party: bool

    def normalise(self) -> None:
        super().normalise()
        _ident(self, "body_uscc", normalise_uscc)


class ViolationRecorded(_Uscc, kw_only=True):
    kind = "violation.recorded"
    past_dates = ("occurred_on",)
    item: ItemId
    occurred_on: dt.date
    case_no: CaseNo
    fine_fen: Fen | None = None
    basis: Address | None = None
    note: LongText | None = None


class ViolationRevoked(_Uscc, kw_only=True):
    kind = "violation.revoked"
    entry: EntryIndex
    reason: LongText


class ComplaintReceived(_Uscc, kw_only=True):
    kind = "complaint.received"
    channel: Channel
    gtin: str | None = None
    summary: LongText

    def normalise(self) -> None:
        super().normalise()
        _ident(self, "gtin", normalise_gtin)


class ComplaintVerified(_Uscc, kw_only=True):
    kind = "complaint.verified"
    entry: EntryIndex


class RecallIssued(_Gtin, kw_only=True):
    kind = "recall.issued"
    past_dates = ("issued_on",)
    batches: Annotated[list[Batch], msgspec.Meta(max_length=1000)]
    reason: LongText
    issued_on: dt.date

    def normalise(self) -> None:
        super().normalise()
        self.batches = sorted(set(self.batches))


class RecallClosed(_Gtin, kw_only=True):
    kind = "recall.closed"
    entry: EntryIndex


class _Sanction(_Uscc, kw_only=True):
    past_dates = ("on",)
    reason: LongText
    on: dt.date


class SanctionYellowCard(_Sanction, kw_only=True):
    kind = "sanction.yellow_card"


class SanctionInterview(_Sanction, kw_only=True):
    kind = "sanction.interview"


class _Blacklist(_Uscc, kw_only=True):
    reason: LongText
    basis: Address | None = None


class BlacklistNoticed(_Blacklist, kw_only=True):
    kind = "blacklist.noticed"


class BlacklistListed(_Blacklist, kw_only=True):
    kind = "blacklist.listed"


class BlacklistRemoved(_Blacklist, kw_only=True):
    kind = "blacklist.removed"


class RepairRequested(_Uscc, kw_only=True):
    kind = "credit.repair_requested"
    grounds: LongText


class RepairDecided(_Uscc, kw_only=True):
    kind = "credit.repair_decided"
    request: EntryIndex
    approved: bool
    note: LongText | None = None


class CreditGraded(_Uscc, kw_only=True):
    kind = "credit.graded"
    grade: Grade
    score: Annotated[int, msgspec.Meta(ge=-(10**6), le=10**6)]
    policy: PolicyId
    as_of_size: EntryIndex
    reasons_digest: Hash32


class CodesIssued(_Batch, kw_only=True):
    kind = "codes.issued"
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
    serials_root: Hash32
    key_id: KeyId


class CodesRevoked(_Batch, kw_only=True):
    kind = "codes.revoked"
    serials: Annotated[list[Serial], msgspec.Meta(max_length=10_000)]
    reason: LongText

    def normalise(self) -> None:
        super().normalise()
        self.serials = sorted(set(self.serials))


DrawLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
DrawId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-z][0-9a-z-]{0,63}\Z")]


DrawCount = Annotated[int, msgspec.Meta(ge=1, le=10**6)]
DrawGrades = Annotated[list[Grade], msgspec.Meta(max_length=32)]
Roster = Annotated[list[DrawLabel], msgspec.Meta(max_length=10_000)]


def _check_roster(roster: list[str] | None) -> None:
    if roster is not None and len(set(roster)) != len(roster):
        raise RecordError("lists an inspector twice", "roster")


class DrawRequested(Record, kw_only=True):
    """The commitment of a random inspection draw, recorded before anything is drawn:
    what is drawn (``count`` targets among the enterprises of ``grades`` and ``port``
    under ``policy``, and ``inspectors`` of the ``roster``). The draw is seeded by the
    first signed checkpoint covering this entry, which nobody knew when asking."""

    kind = "draw.requested"
    draw_id: DrawId
    policy: PolicyId
    count: DrawCount
    grades: DrawGrades | None = None
    port: Port | None = None
    roster: Roster | None = None
    inspectors: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None

    def normalise(self) -> None:
        if (self.roster is None) != (self.inspectors is None):
            raise RecordError("a roster and how many inspectors to assign go together", "roster")
        _check_roster(self.roster)
        if (
            self.roster is not None
            and self.inspectors is not None
            and self.inspectors > len(self.roster)
        ):
            raise RecordError("cannot exceed the roster", "inspectors")

    def subject(self) -> str:
        return f"draw:{self.draw_id}"


class DrawMade(Record, kw_only=True):
    """A random inspection draw. The optional fields (added without breaking earlier
    payloads, which omit them) say how the population was chosen and who inspects:
    ``grades`` and ``port`` restrict the population, ``roster`` lists the inspectors
    drawn from and ``inspectors`` those picked; ``draw_id`` names the draw (its subject).
    A draw made on request names its ``draw.requested`` entry (``request``) and the
    ``policy`` it weighted by; ``seed_size`` is then the first checkpoint covering the
    request. Draws without them were seeded at request time (the earlier form)."""

    kind = "draw.made"
    population: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    count: DrawCount
    seed_size: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
    picks: Annotated[list[DrawLabel], msgspec.Meta(max_length=10**6)]
    draw_id: DrawId | None = None
    grades: DrawGrades | None = None
    port: Port | None = None
    roster: Roster | None = None
    inspectors: Roster | None = None
    policy: PolicyId | None = None
    request: EntryIndex | None = None

    def normalise(self) -> None:
        if self.request is not None and (self.draw_id is None or self.policy is None):
            raise RecordError("a draw made on request names its draw_id and policy", "request")
        if self.request is not None and self.request >= self.seed_size:
            raise RecordError("the seed's checkpoint must cover the request", "seed_size")
        if len(self.picks) != self.count:
            raise RecordError(f"holds {len(self.picks)} picks, count says {self.count}", "picks")
        if self.count > self.population:
            raise RecordError("cannot exceed the population", "count")
        if (self.roster is None) != (self.inspectors is None):
            raise RecordError("a roster and the inspectors picked from it go together", "roster")
        _check_roster(self.roster)
        if (
            self.roster is not None
            and self.inspectors is not None
            and not set(self.inspectors) <= set(self.roster)
        ):
            raise RecordError("names an inspector not on the roster", "inspectors")

    def subject(self) -> str:
        if self.draw_id is not None:
            return f"draw:{self.draw_id}"
        digest = hashlib.sha256(msgspec.json.encode(self, order="sorted")).hexdigest()[:16]
        return f"draw:{digest}"


class EntryRedacted(Record, kw_only=True):
    kind = REDACTION_KIND
    index: EntryIndex
    reason: LongText

    def subject(self) -> str:
        return f"entry:{self.index}"


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls
    for cls in (
        EnterpriseFiled,
        EnterpriseAmended,
        EnterpriseRevoked,
        ProductFiled,
        ProductRevoked,
        BatchDeclared,
        InspectionResult,
        ViolationRecorded,
        ViolationRevoked,
        ComplaintReceived,
        ComplaintVerified,
        RecallIssued,
        RecallClosed,
        SanctionYellowCard,
        SanctionInterview,
        BlacklistNoticed,
        BlacklistListed,
        BlacklistRemoved,
        RepairRequested,
        RepairDecided,
        CreditGraded,
        CodesIssued,
        CodesRevoked,
        DrawRequested,
        DrawMade,
        EntryRedacted,
    )
}
KINDS = tuple(sorted(RECORD_TYPES))

_decoders = {kind: msgspec.json.Decoder(cls) for kind, cls in RECORD_TYPES.items()}


def _convert(kind: str, value: Any) -> Record:
    record: Record = msgspec.convert(value, RECORD_TYPES[kind], strict=True)
    return record


_encode = msgspec.json.Encoder(order="sorted").encode
_LOCATION = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")
_PREFIXED = re.compile(r"^(?P<field>[a-z_]+(?:\[[0-9]+\])?): (?P<rest>.*)$", re.S)


@dataclass(frozen=True)
class ParsedRecord:
    kind: str
    record: Record
    subject: str
    payload: bytes  # canonical JSON (RFC 8785)


def _field_of(message: str) -> str | None:
    for pattern, group in ((_LOCATION, "path"), (_MISSING, "field"), (_UNKNOWN, "field")):
        found = pattern.search(message)
        if found:
            return found[group] or None
    return None


CHINA = dt.timezone(dt.timedelta(hours=8))  # the records' calendar


def record_date(time: str) -> dt.date:
    """The calendar day in China (UTC+8) of an envelope time, for "not in the future" checks."""
    day = dt.date(int(time[0:4]), int(time[5:7]), int(time[8:10]))
    return day + dt.timedelta(days=1) if int(time[11:13]) >= 16 else day


def parse_record(kind: str, payload: Any, today: dt.date | None = None) -> ParsedRecord:
    """Validate ``payload`` (a JSON object, or its bytes) as a ``kind`` record."""
    if kind not in RECORD_TYPES:
        raise UnknownKind(kind)
    try:
        if isinstance(payload, bytes | bytearray | memoryview | str):
            record = _decoders[kind].decode(payload)
        else:
            record = _convert(kind, payload)
    except RecordError:
        raise
    except UnicodeError as exc:
        raise RecordError("is not valid UTF-8 text", "payload") from exc
    except msgspec.ValidationError as exc:
        message = str(exc)
        prefixed = _PREFIXED.match(message)  # raised by a schema's own checks
        if prefixed:
            raise RecordError(prefixed["rest"], prefixed["field"]) from exc
        raise RecordError(_LOCATION.sub("", message), _field_of(message) or "payload") from exc
    except msgspec.DecodeError as exc:
        raise RecordError(f"payload is not valid JSON: {exc}", "payload") from exc
    if today is not None:
        record.check_dates(today)
    return ParsedRecord(kind, record, record.subject(), _encode(record))
