"""Disclosure rules: which facts the public may see, and for how long (the policy's windows)."""

from __future__ import annotations

import datetime as dt

from credit.catalogue import Policy, load_policy


def is_disclosed(
    severity: str | None, occurred_on: dt.date, today: dt.date, policy: Policy | None = None
) -> bool:
    """Whether a violation of ``severity`` that occurred on ``occurred_on`` is public today."""
    windows = (policy or load_policy()).disclose_days
    days = windows.get(severity or "", 0)  # unknown severity or item: never shown
    return days > 0 and today < occurred_on + dt.timedelta(days=days)
