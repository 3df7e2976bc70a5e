"""Grading policies as data: the violation catalogue of each policy file."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY = "cn-ciq-2014"
Severity = Literal["minor", "general", "serious"]


class PolicyError(ValueError):
    """A policy file is missing or malformed."""


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    zh: str
    en: str
    severity: Severity
    points: int
    basis: str


@dataclass(frozen=True)
class Policy:
    id: str
    title: str
    items: dict[str, CatalogueItem]
    # How long the public sees a violation of each severity, from its occurrence (0: never).
    disclose_days: dict[str, int]

    def item(self, item_id: str) -> CatalogueItem | None:
        return self.items.get(item_id)


@cache
def load_policy(policy_id: str = DEFAULT_POLICY) -> Policy:
    path = POLICY_DIR / f"{policy_id}.toml"
    if not path.is_file():
        raise PolicyError(f"no policy {policy_id!r} under {POLICY_DIR.name}/")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    items: dict[str, CatalogueItem] = {}
    for raw in data.get("item", []):
        if raw["severity"] not in ("minor", "general", "serious"):
            raise PolicyError(f"{policy_id}: item {raw['id']} has severity {raw['severity']!r}")
        if raw["id"] in items:
            raise PolicyError(f"{policy_id}: item {raw['id']} is listed twice")
        items[raw["id"]] = CatalogueItem(
            raw["id"], raw["zh"], raw["en"], raw["severity"], int(raw["points"]), raw["basis"]
        )
    if data.get("id") != policy_id:
        raise PolicyError(f"{path.name} declares id {data.get('id')!r}")
    disclose = {name: int(spec["disclose_days"]) for name, spec in data.get("severity", {}).items()}
    missing = {"minor", "general", "serious"} - disclose.keys()
    if missing:
        raise PolicyError(f"{policy_id}: no disclose_days for {', '.join(sorted(missing))}")
    return Policy(policy_id, data.get("title", policy_id), items, disclose)


def violation_item_check(policy_id: str = DEFAULT_POLICY) -> Callable[[str], str | None]:
    """The ledger's rule for violation items, answered by the active policy's catalogue."""
    policy = load_policy(policy_id)

    def check(item: str) -> str | None:
        if policy.item(item) is None:
            known = ", ".join(sorted(policy.items))
            return f"{item} is not in the {policy.id} catalogue ({known})"
        return None

    return check
