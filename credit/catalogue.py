"""The violation catalogue: which items a ``violation.recorded`` may name.

The items are those of the policy files (``credit.policy``); the ledger asks this
module, through the check the application layer wires in, whether an item is known.
"""

from __future__ import annotations

from collections.abc import Callable

from credit.policy import (
    DEFAULT_POLICY,
    POLICY_DIR,
    CatalogueItem,
    Policy,
    PolicyError,
    Severity,
    all_policies,
    load_policy,
)

__all__ = [
    "DEFAULT_POLICY",
    "POLICY_DIR",
    "CatalogueItem",
    "Policy",
    "PolicyError",
    "Severity",
    "load_policy",
    "violation_item_check",
]


def violation_item_check(policy_id: str = DEFAULT_POLICY) -> Callable[[str], str | None]:
    """The ledger's rule for violation items: an item of the active policy's catalogue, or
    of another policy file's (a fact the other policy grades on; the active one ignores
    items it does not list)."""
    policy = load_policy(policy_id)
    known = set(policy.items)
    for other in all_policies():
        known |= set(other.items)

    def check(item: str) -> str | None:
        if item not in known:
            listed = ", ".join(sorted(policy.items))
            return f"{item} is not in the {policy.id} catalogue ({listed}) nor another policy's"
        return None

    return check
