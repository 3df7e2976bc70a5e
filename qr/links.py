"""GS1 Digital Link URLs of traceability codes: written canonically, read strictly.

A code's URL is ``{public URL}/01/{GTIN-14}/10/{batch}/21/{serial}``, the canonical form
(GTIN as 14 digits, qualifiers in the order GS1 Digital Link gives them for AI 01:
consumer product variant (22), batch (10), serial (21), each optional).
``parse_path`` reads the path of any request to the resolver and says exactly what is
malformed; ``parse_code_url`` reads a scanned code for offline verification and accepts
only what this service issues, so any changed character is noticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ledger.errors import InvalidInput
from ledger.records.ids import IdentifierError, normalise_gtin
from qr.serials import ALPHABET, SERIAL_LENGTH

AI_GTIN, AI_VARIANT, AI_BATCH, AI_SERIAL = "01", "22", "10", "21"
AI_NAMES = {
    AI_GTIN: "GTIN",
    AI_VARIANT: "consumer product variant",
    AI_BATCH: "batch/lot",
    AI_SERIAL: "serial",
}
# The key qualifiers of AI 01, in the one order GS1 Digital Link allows; each is optional.
QUALIFIERS = (AI_VARIANT, AI_BATCH, AI_SERIAL)
_FIELDS = {AI_VARIANT: "variant", AI_BATCH: "batch", AI_SERIAL: "serial"}
MAX_VALUE = 20  # AI 22, AI 10 and AI 21 hold at most 20 characters
# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
_CHARSET_82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


class LinkError(InvalidInput):
    """A Digital Link path or URL is malformed; ``field`` names the part (gtin, batch, ...)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DigitalLink:
    """The identifiers of a Digital Link path: a GTIN-14 and maybe a batch, a serial and a
    consumer product variant (AI 22, which is read and written but looked up nowhere)."""

    gtin: str
    batch: str | None = None
    serial: str | None = None
    variant: str | None = None

    def path(self) -> str:
        parts = [f"/{AI_GTIN}/{self.gtin}"]
        for ai, value in ((AI_VARIANT, self.variant), (AI_BATCH, self.batch)):
            if value is not None:
                parts.append(f"/{ai}/{quote(value, safe='')}")
        if self.serial is not None:
            parts.append(f"/{AI_SERIAL}/{quote(self.serial, safe='')}")
        return "".join(parts)

    def up(self) -> DigitalLink:
        """One level towards the GTIN: without the serial, then without the batch."""
        if self.serial is not None:
            return DigitalLink(self.gtin, self.batch, variant=self.variant)
        return DigitalLink(self.gtin, variant=self.variant)


def code_url(public_url: str, gtin: str, batch: str, serial: str) -> str:
    """The canonical Digital Link URL of one code."""
    return public_url.rstrip("/") + DigitalLink(gtin, batch, serial).path()


def _gtin(value: str) -> str:
    if not _DIGITS.match(value):
        raise LinkError(f"GTIN {value[:40]!r} must be digits only", "gtin")
    try:
        return normalise_gtin(value)
    except IdentifierError as exc:
        raise LinkError(f"GTIN {value[:40]!r}: {exc}", "gtin") from exc


def _qualifier(ai: str, value: str) -> str:
    name, field = AI_NAMES[ai], _FIELDS[ai]
    if not value:
        raise LinkError(f"the {name} (AI {ai}) is empty", field)
    if len(value) > MAX_VALUE:
        raise LinkError(
            f"the {name} (AI {ai}) is {len(value)} characters; at most {MAX_VALUE}", field
        )
    if not _CHARSET_82.match(value):
        bad = next(c for c in value if not _CHARSET_82.match(c))
        raise LinkError(
            f"the {name} (AI {ai}) holds {bad!r}, outside the GS1 AI character set 82", field
        )
    return value


def parse_path(path: str) -> DigitalLink:
    """The identifiers of a resolver path (``/01/...``, already percent-decoded or not).

    Malformed: no GTIN, an odd number of segments, a primary key other than AI 01, a GTIN
    with a wrong length or check digit, a qualifier GS1 does not allow here, given twice or
    out of order (22, then 10, then 21), a value outside the AI character set. A trailing
    slash is accepted.
    """
    segments = path.strip("/").split("/") if path.strip("/") else []
    if not segments or segments[0] != AI_GTIN:
        raise LinkError("a Digital Link path starts with /01/ and a GTIN", "path")
    if len(segments) == 1:
        raise LinkError(
            "/01 names no GTIN: the path is /01/{gtin}[/22/...][/10/...][/21/...]", "gtin"
        )
    if len(segments) % 2:
        raise LinkError(
            f"segment {segments[-1][:40]!r} has no value: the path must be pairs of "
            "application identifier and value (/01/{gtin}/10/{batch}/21/{serial})",
            "path",
        )
    gtin = _gtin(unquote(segments[1]))
    values: dict[str, str] = {}
    for position in range(2, len(segments), 2):
        ai, value = segments[position], unquote(segments[position + 1])
        if ai not in QUALIFIERS:
            raise LinkError(
                f"{ai[:40]!r} is not a qualifier of a GTIN this resolver knows: "
                "after /01/{gtin} come /22/{variant}, /10/{batch} and /21/{serial}, "
                "each optional, in that order",
                "path",
            )
        if ai in values:
            raise LinkError(f"AI {ai} is given twice", "path")
        if any(QUALIFIERS.index(ai) < QUALIFIERS.index(seen) for seen in values):
            raise LinkError(
                "qualifiers are out of order: the variant (22) comes before the batch (10), "
                "the batch before the serial (21)",
                "path",
            )
        values[ai] = _qualifier(ai, value)
    return DigitalLink(gtin, values.get(AI_BATCH), values.get(AI_SERIAL), values.get(AI_VARIANT))


@dataclass(frozen=True)
class ScannedCode:
    """A code's URL as read from a label."""

    canonical_url: str  # the URL without its query: what ``sig`` signs
    base_url: str  # scheme and host (and any path prefix) before /01/
    link: DigitalLink
    sig: str | None


def parse_code_url(url: str) -> ScannedCode:
    """Read a code's URL strictly: canonical path, no query but ``sig``.

    Anything this service would not have written is refused, so that offline checks of
    the signature and the check character see exactly the characters that were printed.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinkError("a code URL starts with http:// or https:// and a host", "url")
    if parts.fragment or "#" in text:
        raise LinkError("a code URL has no fragment (#...)", "url")
    marker = parts.path.find(f"/{AI_GTIN}/")
    if marker < 0:
        raise LinkError("a code URL's path holds /01/{gtin}/10/{batch}/21/{serial}", "url")
    link = parse_path(parts.path[marker:])
    if link.serial is None or link.batch is None or link.variant is not None:
        raise LinkError("a code URL names a GTIN, a batch and a serial, and nothing else", "url")
    if any(symbol not in ALPHABET for symbol in link.serial) or len(link.serial) != SERIAL_LENGTH:
        raise LinkError(
            f"the serial {link.serial!r} is not written as this service issues serials: "
            f"{SERIAL_LENGTH} symbols of {ALPHABET}",
            "serial",
        )
    base = f"{parts.scheme}://{parts.netloc}{parts.path[:marker]}"
    canonical = base + link.path()
    written = text.split("?", 1)[0]
    if written != canonical:
        raise LinkError(f"the URL is not in canonical form; this service writes {canonical}", "url")
    sig = None
    if "?" in text:
        query = text.split("?", 1)[1]
        if not query.startswith("sig=") or "&" in query:
            raise LinkError("a code URL's query is only sig=<signature>", "url")
        sig = query[len("sig=") :]
    return ScannedCode(canonical, base, link, sig)
