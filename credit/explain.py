"""One enterprise's grade explained: the grading on a date, its measures and reasons,
its recorded grade history and where it stands in due process.

Imports ``ledger.records``, ``ledger.store`` and ``credit``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from credit.due_process import Refusal, proposed_for_blacklist, repair_refusal
from credit.engine import Grading, grade
from credit.facts import GradeRecord
from credit.policy import Policy
from credit.store import load_facts
from ledger.errors import InvalidInput
from ledger.records.kinds import record_date
from ledger.records.tables import LIVE
from ledger.store import statements
from ledger.tlog.envelope import now_time


class UnknownEnterprise(InvalidInput):
    """No filed enterprise has this USCC."""


class PolicyNotInEffect(InvalidInput):
    """The policy asked for was not in effect on the date asked for."""


def today() -> dt.date:
    """Today in China, the day the records' dates are in."""
    return record_date(now_time())


@dataclass(frozen=True)
class Sanction:
    entry: int
    kind: str  # sanction.yellow_card, sanction.interview
    reason: str
    on: str


@dataclass(frozen=True)
class Explanation:
    grading: Grading
    tree_size: int
    history: tuple[GradeRecord, ...]
    proposed_for_blacklist: bool
    repair: Refusal | None  # why a repair request would be refused today (None: allowed)
    sanctions: tuple[Sanction, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            **self.grading.as_json(),
            "tree_size": self.tree_size,
            "history": [
                {"entry": g.entry, "grade": g.grade, "policy": g.policy, "on": g.on.isoformat()}
                for g in self.history
            ],
            "proposed_for_blacklist": self.proposed_for_blacklist,
            "sanctions": [
                {"entry": x.entry, "kind": x.kind, "reason": x.reason, "on": x.on}
                for x in self.sanctions
            ],
            "repair": None
            if self.repair is None
            else {
                "refused": self.repair.reason,
                "refused_zh": self.repair.reason_zh,
                "allowed_on": None
                if self.repair.allowed_on is None
                else self.repair.allowed_on.isoformat(),
            },
        }


def explain(conn: Connection, uscc: str, policy: Policy, as_of: dt.date) -> Explanation:
    if not policy.in_effect(as_of):
        until = f" until {policy.effective_until}" if policy.effective_until else ""
        raise PolicyNotInEffect(
            f"{policy.id} is in effect from {policy.effective_from}{until}, not on {as_of}"
        )
    found = load_facts(conn, [uscc], include_revoked=True).get(uscc)
    if found is None:
        raise UnknownEnterprise(f"enterprise {uscc} is not filed")
    result = grade(found, policy, as_of)
    return Explanation(
        result,
        int(statements.log_size(conn)),
        found.grades,
        proposed_for_blacklist(found, policy, result),
        repair_refusal(found, policy, result, as_of),
        sanctions_of(conn, uscc),
    )


def sanctions_of(conn: Connection, uscc: str) -> tuple[Sanction, ...]:
    """Yellow cards and interviews (约谈), the officer's view: every one, in log order."""
    table = LIVE["proj_sanctions"]
    rows = conn.execute(
        select(table.c.entry, table.c.kind, table.c.reason, table.c.on_date)
        .where(table.c.uscc == uscc)
        .order_by(table.c.entry)
    )
    return tuple(Sanction(*row) for row in rows)


@dataclass(frozen=True)
class Proposal:
    uscc: str
    name: str | None
    grade: str
    graded_entry: int


def blacklist_proposals(conn: Connection, policy: Policy) -> list[Proposal]:
    """Enterprises whose recorded grade puts them on the officers' proposal list for
    ``blacklist.noticed`` (D under cn-ciq-2014) and who are not noticed or listed yet."""
    ent = LIVE["proj_enterprises"]
    rows = conn.execute(
        select(ent.c.uscc, ent.c.name, ent.c.grade, ent.c.graded_entry)
        .where(
            ent.c.grade.in_(sorted(policy.blacklist.propose_grades)),
            ent.c.blacklist == "none",
            ent.c.status == "active",
        )
        .order_by(ent.c.uscc)
    )
    return [Proposal(*row) for row in rows]


def reasons_table(grading: Grading, english: bool = True) -> str:
    """The reasons as a plain-text table: rule, points, window, entries, meaning."""
    rows = [("rule", "points", "window", "entries", "meaning")]
    for r in grading.reasons:
        span = "" if r.window is None else f"{r.window[0]}..{r.window[1]}"
        entries = ",".join(map(str, r.entries)) or "-"
        rows.append((r.rule, str(r.points), span, entries, r.en if english else r.zh))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )
