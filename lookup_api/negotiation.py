"""Content negotiation: which offered media type an ``Accept`` header prefers (RFC 9110 §12).

``preferred_media_type(accept, offered)`` weighs each offered type by the most specific
media range that matches it (``type/subtype`` over ``type/*`` over ``*/*``), so
``application/json;q=0, */*`` refuses JSON and takes anything else. ``q=0`` means "not
acceptable"; a type no range matches is not acceptable either. Ties go to the type
matched by the more specific range (a client naming JSON beside ``*/*`` wants JSON), then
to the server's order of ``offered``. A range that cannot be read (a ``q`` outside 0–1,
no slash) is skipped, never an error: a client's odd header must not break a scan.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_RANGES = 64  # a longer header is read this far: nobody lists more media ranges
_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header: ``type/subtype`` (either may be ``*``) and its q."""

    type: str
    subtype: str
    q: float

    @property
    def specificity(self) -> int:
        """2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*``."""
        if self.type == "*":
            return 0
        return 1 if self.subtype == "*" else 2

    def matches(self, media_type: str) -> bool:
        kind, _, sub = media_type.partition("/")
        return self.type in ("*", kind) and self.subtype in ("*", sub)


def parse_accept(header: str | None) -> list[MediaRange]:
    """The readable media ranges of an Accept header, in the order given (lower case)."""
    ranges: list[MediaRange] = []
    for element in (header or "").split(",")[:MAX_RANGES]:
        media, *params = (part.strip() for part in element.split(";"))
        kind, slash, sub = media.lower().partition("/")
        if not (slash and _TOKEN.match(kind) and _TOKEN.match(sub)) or (kind == "*" != sub):
            continue
        q: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.match(value) else None
                break  # parameters after q are accept-extensions, not the media type's
        if q is not None:
            ranges.append(MediaRange(kind, sub, q))
    return ranges


def preferred_media_type(header: str | None, offered: Sequence[str]) -> str | None:
    """The one of ``offered`` (lower-case ``type/subtype``, the server's preference first)
    that ``header`` prefers; None when the header accepts none of them.

    No Accept header at all accepts everything: the first offered type.
    """
    if header is None or not header.strip():
        return offered[0] if offered else None
    ranges = parse_accept(header)
    best: tuple[float, int, int] | None = None
    chosen = None
    for order, media_type in enumerate(offered):
        matching = [r for r in ranges if r.matches(media_type)]
        if not matching:
            continue
        # The most specific range decides; among equally specific ones the first given.
        decisive = max(matching, key=lambda r: r.specificity)
        if decisive.q <= 0:
            continue
        rank = (decisive.q, decisive.specificity, -order)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen


def preferred_language(header: str | None, offered: Sequence[str]) -> str | None:
    """The one of ``offered`` (primary language subtags: ``zh``, ``en``) that an
    ``Accept-Language`` header prefers (RFC 9110 §12.5.4), None when it names none of them.

    A range matches by its primary subtag (``en-GB`` is ``en``; ``*`` is any language it
    does not name); ``q=0`` refuses; equal weights go to the range the client listed
    first. Unreadable ranges are skipped, as in ``parse_accept``.
    """
    weights: dict[str, tuple[float, int]] = {}
    wildcard: tuple[float, int] | None = None
    for position, element in enumerate((header or "").split(",")[:MAX_RANGES]):
        tag, *params = (part.strip() for part in element.split(";"))
        primary = tag.lower().partition("-")[0]
        if not primary or not (primary == "*" or primary.isalpha()):
            continue
        q: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.match(value) else None
                break
        if q is None:
            continue
        if primary == "*":
            wildcard = wildcard or (q, position)
        elif primary not in weights or q > weights[primary][0]:
            weights[primary] = (q, weights.get(primary, (q, position))[1])
    best: tuple[float, int] | None = None
    chosen = None
    for language in offered:
        weight = weights.get(language, wildcard)
        if weight is None or weight[0] <= 0:
            continue
        if best is None or (weight[0], -weight[1]) > (best[0], -best[1]):
            best, chosen = weight, language
    return chosen
