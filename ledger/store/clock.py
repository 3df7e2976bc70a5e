"""The log's clock: entry times never decrease along the log and never run ahead of now.

Every entry's ``time`` is either stamped by the sequencer or given by the caller (a
historical import). Either way, along the log:

- a time is never before the time of the entry before it (equal is fine: one batch
  commits many entries within a millisecond);
- a given time is never later than the sequencer's clock plus ``MAX_CLOCK_SKEW``;
- a stamped time is the sequencer's clock, or the last entry's time when the clock
  reads earlier (it was set back, or another writer's clock runs ahead).

Times compare as strings: they are all ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (envelope.check_time).
"""

from __future__ import annotations

import datetime as dt

from ledger.tlog.envelope import format_time, now_time

MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
EPOCH = "0000-01-01T00:00:00.000Z"  # before every real time: the clock of an empty log


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def latest_allowed(wall: str) -> str:
    """The latest time an entry may be given when the clock reads ``wall``."""
    return format_time(parse_time(wall) + MAX_CLOCK_SKEW)


class LogClock:
    """The clock of one append batch, from the last stored entry's time on."""

    def __init__(self, last: str | None, wall: str | None = None) -> None:
        self.last = last or EPOCH  # the time of the latest entry, stored or accepted
        self.wall = wall or now_time()
        self.limit = latest_allowed(self.wall)

    @property
    def now(self) -> str:
        """The time to stamp on an entry that gives none."""
        return max(self.wall, self.last)

    def refusal(self, time: str) -> str | None:
        """Why a given ``time`` is refused (before the last entry's, or in the future), or None."""
        if time < self.last:
            return (
                f"time {time} is before {self.last}, the time of the entry before it: "
                "entry times never decrease along the log"
            )
        if time > self.limit:
            return (
                f"time {time} is in the future: the ledger's clock reads {self.wall}, and a "
                f"time may be at most {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead"
            )
        return None

    def accept(self, time: str) -> None:
        """Move the clock on to an accepted entry's time."""
        self.last = max(self.last, time)


def historical_range(text: str, wall: str | None = None) -> tuple[str, str]:
    """``FROM..TO`` (dates ``YYYY-MM-DD`` or times ``YYYY-MM-DDTHH:MM:SS.mmmZ``) as the
    first and last entry time of a historical import; raises ValueError.

    A date as FROM means its first millisecond, as TO its last. The range may not end
    after today (a date) or after the clock plus the skew (a time).
    """
    first, sep, last = text.partition("..")
    if not sep or not first or not last:
        raise ValueError(f"expected FROM..TO, like 2019-01-01..2019-12-31, got {text[:40]!r}")
    wall = wall or now_time()
    bounds = []
    for value, suffix in ((first, "T00:00:00.000Z"), (last, "T23:59:59.999Z")):
        try:
            if len(value) == len("YYYY-MM-DD"):
                day = dt.date.fromisoformat(value)
                if day.isoformat() != value:
                    raise ValueError(value)
                bounds.append(value + suffix)
            else:
                parse_time(value)
                if format_time(parse_time(value)) != value:
                    raise ValueError(value)
                bounds.append(value)
        except ValueError:
            raise ValueError(
                f"{value[:40]!r} is neither a date (2019-01-01) "
                "nor a time (2019-01-01T08:00:00.000Z)"
            ) from None
    start, end = bounds
    if start > end:
        raise ValueError(f"the range {first}..{last} ends before it begins")
    today_end = wall[:10] + "T23:59:59.999Z"
    if end > (today_end if len(last) == len("YYYY-MM-DD") else latest_allowed(wall)):
        raise ValueError(f"the range {first}..{last} ends in the future (the clock reads {wall})")
    return start, end
