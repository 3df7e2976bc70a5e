"""Grading policies as data: the model of a policy file and the loader that checks it.

A policy file (``credit/policies/<id>.toml``) names its grades from best to worst, the
rules that give them (the first that matches, from the top), the measures of each
grade, the violation catalogue, the disclosure windows and the repair and blacklist
periods. ``load_policy`` refuses a file that is malformed or inconsistent, naming the
file, the key and what is wrong; nothing else in the engine re-checks what it accepted.

Imports only the standard library and ``ledger.errors``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

from ledger.errors import Misconfigured

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY = "cn-ciq-2014"
SEVERITIES = ("minor", "general", "serious")
Severity = Literal["minor", "general", "serious"]
ROLES = frozenset(
    {"producer", "importer", "exporter", "cbec_platform", "customs_broker", "inspection_body"}
)

# What each metric measures (the engine computes them) and the options it takes.
METRICS: dict[str, frozenset[str]] = {
    "points": frozenset({"severity", "after_repair", "window_days"}),
    "fines_fen": frozenset({"severity", "after_repair", "window_days"}),
    "item_count": frozenset({"items", "after_repair", "window_days"}),
    "penalty_permille": frozenset({"after_repair", "window_days"}),
    "filing_age_days": frozenset(),
    "nonconformity_percent": frozenset(),
    "days_at_or_above": frozenset({"grade"}),
    "blacklisted": frozenset(),
}
COMPARISONS = ("at_least", "above", "below", "at_most", "is")
Comparison = Literal["at_least", "above", "below", "at_most", "is"]
# Comparisons that grow harsher as the value grows: their thresholds must fall, rule by
# rule, as the grades they give get better (otherwise a later rule could never match).
RISING = ("at_least", "above")


class PolicyError(Misconfigured):
    """A policy file is missing, malformed or inconsistent: names the file and the key."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class GradeSpec:
    id: str
    zh: str
    en: str
    rank: int  # 0 is the best grade


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    zh: str
    en: str
    severity: Severity
    points: int
    basis: str


@dataclass(frozen=True)
class Condition:
    """``metric`` (with its options) compared with ``value``."""

    metric: str
    comparison: Comparison
    value: Fraction | bool
    severity: Severity | None = None
    after_repair: bool = False
    window_days: int | None = None  # None: the policy's cycle
    items: tuple[str, ...] = ()
    grade: str | None = None

    @cached_property  # asked for by every rule of every grading: made once per condition
    def measure(self) -> tuple[Any, ...]:
        """What is measured, without the threshold: equal for comparable conditions."""
        return (
            self.metric,
            self.severity,
            self.after_repair,
            self.window_days,
            self.items,
            self.grade,
        )

    @cached_property
    def threshold(self) -> Fraction | int:
        """``value`` as an int when it is whole: compared natively with whole measures."""
        value = self.value
        if isinstance(value, Fraction) and value.denominator == 1:
            return value.numerator
        return value

    def holds(self, measured: Fraction | int) -> bool:
        if self.comparison == "is":
            return measured == self.value
        assert not isinstance(self.value, bool) and not isinstance(measured, bool)
        threshold = self.threshold
        if self.comparison == "at_least":
            return measured >= threshold
        if self.comparison == "above":
            return measured > threshold
        if self.comparison == "below":
            return measured < threshold
        return measured <= threshold


@dataclass(frozen=True)
class GradeRule:
    id: str
    grade: str
    when: Literal["any", "all", "otherwise"]
    conditions: tuple[Condition, ...]
    zh: str
    en: str
    roles: frozenset[str] = frozenset()  # the rule applies only to these roles (empty: all)
    except_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Measures:
    inspection_percent: Fraction
    document_review: bool
    paperless: bool
    green_channel: bool
    targeted_control: bool
    public_list: str | None


@dataclass(frozen=True)
class RepairRules:
    request_grades: frozenset[str]
    wait_days: int  # after the last violation
    automatic_clean_days: int
    # Per-ground waits (a policy that repairs by ground); empty: ``wait_days`` for all.
    ground_wait_days: dict[str, int]


@dataclass(frozen=True)
class BlacklistRules:
    propose_grades: frozenset[str]
    notice_days: int
    removal_clean_days: int


@dataclass(frozen=True)
class Policy:
    id: str
    version: int
    title: str
    title_en: str
    effective_from: dt.date
    effective_until: dt.date | None
    cycle_days: int
    grades: tuple[GradeSpec, ...]
    rules: tuple[GradeRule, ...]
    measures: dict[str, Measures]
    items: dict[str, CatalogueItem]
    # How long the public sees a violation of each severity, from its occurrence (0: never).
    disclose_days: dict[str, int]
    repair: RepairRules
    blacklist: BlacklistRules
    # What a batch's inspection rate is multiplied by, per product risk class.
    risk_factors: dict[str, Fraction]

    def item(self, item_id: str) -> CatalogueItem | None:
        return self.items.get(item_id)

    def grade(self, grade_id: str) -> GradeSpec:
        return next(g for g in self.grades if g.id == grade_id)

    def rank(self, grade_id: str) -> int:
        return self._ranks.get(grade_id, len(self.grades))  # unknown: worse than any

    @cached_property  # asked for by every grading with a grade history
    def _ranks(self) -> dict[str, int]:
        ranks: dict[str, int] = {}
        for g in self.grades:
            ranks.setdefault(g.id, g.rank)
        return ranks

    def in_effect(self, day: dt.date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day < self.effective_until
        )


# --- reading a file, with the key of every value at hand ------------------------------


class _Reader:
    """Typed access to one table of a policy file; every refusal names file and key."""

    def __init__(self, file: str, table: dict[str, Any], prefix: str = "") -> None:
        self.file = file
        self.table = table
        self.prefix = prefix
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, problem: str) -> PolicyError:
        return PolicyError(self.file, self.key(name), problem)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.table:
            if default is ...:
                raise self.fail(name, "is missing")
            return default
        value = self.table[name]
        # A TOML boolean is not a number, and an integer is not a boolean here.
        wanted = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in wanted:
            raise self.fail(name, f"must be {_names(wanted)}, not {value!r}")
        if not isinstance(value, wanted):
            raise self.fail(name, f"must be {_names(wanted)}, not {value!r}")
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(name, "must not be blank")
        return value

    def count(self, name: str, default: Any = ..., minimum: int = 0) -> Any:
        value = self.get(name, int, default)
        if isinstance(value, int) and value < minimum:
            raise self.fail(name, f"must be at least {minimum}, not {value}")
        return value

    def date(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, (str, dt.date), default)
        if value is None or isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, f"{value!r} is not a date (YYYY-MM-DD)") from None

    def sub(self, name: str, default: Any = ...) -> _Reader:
        value = self.get(name, dict, {} if default is not ... else ...)
        return _Reader(self.file, value, f"{self.key(name)}.")

    def rows(self, name: str) -> list[_Reader]:
        value = self.get(name, list, [])
        readers = []
        for i, row in enumerate(value):
            if not isinstance(row, dict):
                raise PolicyError(self.file, f"{self.key(name)}[{i}]", "must be a table")
            readers.append(_Reader(self.file, row, f"{self.key(name)}[{i}]."))
        return readers

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key would otherwise be silently ignored."""
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.fail(unknown[0], "is not a key this table takes")


def _names(kinds: tuple[type, ...]) -> str:
    words = {str: "text", int: "an integer", bool: "true or false", dict: "a table"}
    words |= {list: "a list", dt.date: "a date", float: "a number"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _number(r: _Reader, name: str) -> Fraction:
    value = r.get(name, (int, float))
    # From the decimal text, so 0.5 is exactly one half and 1.1 exactly eleven tenths.
    number = Fraction(str(value))
    if number < 0:
        raise r.fail(name, f"must not be negative, not {value}")
    return number


# --- the parts of a policy ----------------------------------------------------------------


def _grades(root: _Reader) -> tuple[GradeSpec, ...]:
    grades: list[GradeSpec] = []
    for rank, row in enumerate(root.rows("grade")):
        spec = GradeSpec(row.text("id"), row.text("zh"), row.text("en"), rank)
        row.done()
        if any(g.id == spec.id for g in grades):
            raise row.fail("id", f"grade {spec.id} is listed twice")
        grades.append(spec)
    if len(grades) < 2:
        raise root.fail("grade", "a policy needs at least two grades, best first")
    return tuple(grades)


def _items(root: _Reader) -> dict[str, CatalogueItem]:
    items: dict[str, CatalogueItem] = {}
    for row in root.rows("item"):
        item_id = row.text("id")
        severity = row.text("severity")
        if severity not in SEVERITIES:
            raise row.fail("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
        if item_id in items:
            raise row.fail("id", f"item {item_id} is listed twice")
        items[item_id] = CatalogueItem(
            item_id,
            row.text("zh"),
            row.text("en"),
            severity,
            row.count("points", minimum=1),
            row.text("basis"),
        )
        row.done()
    if not items:
        raise root.fail("item", "the catalogue is empty")
    return items


def _condition(
    row: _Reader, grades: tuple[GradeSpec, ...], items: dict[str, CatalogueItem]
) -> Condition:
    metric = row.text("metric")
    if metric not in METRICS:
        raise row.fail("metric", f"{metric!r} is not a metric ({', '.join(sorted(METRICS))})")
    given = [c for c in COMPARISONS if c in row.table]
    if len(given) != 1:
        raise row.fail("metric", f"needs exactly one of {', '.join(COMPARISONS)}, has {given}")
    comparison: Comparison = given[0]  # type: ignore[assignment]
    if metric == "blacklisted":
        if comparison != "is":
            raise row.fail(comparison, "blacklisted is compared with `is = true|false`")
        value: Fraction | bool = row.get("is", bool)
    elif comparison == "is":
        raise row.fail("is", f"{metric} is a number: compare it with {', '.join(RISING)}, ...")
    else:
        value = _number(row, comparison)
    options = {name for name in row.table if name not in ("metric", *COMPARISONS)}
    extra = sorted(options - METRICS[metric])
    if extra:
        raise row.fail(extra[0], f"is not an option of the metric {metric}")
    severity = row.text("severity", None)
    if severity is not None and severity not in SEVERITIES:
        raise row.fail("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
    listed = tuple(row.get("items", list, []))
    unknown = [i for i in listed if i not in items]
    if unknown:
        raise row.fail("items", f"{unknown[0]!r} is not in this policy's catalogue")
    if metric == "item_count" and not listed:
        raise row.fail("items", "item_count needs the items it counts")
    grade = row.text("grade", None)
    if metric == "days_at_or_above" and grade is None:
        raise row.fail("grade", "days_at_or_above needs the grade it is held at")
    if grade is not None and all(g.id != grade for g in grades):
        raise row.fail("grade", f"{grade!r} is not a grade of this policy")
    condition = Condition(
        metric,
        comparison,
        value,
        severity,
        row.get("after_repair", bool, False),
        row.count("window_days", None, minimum=1),
        listed,
        grade,
    )
    row.done()
    return condition


def _roles(row: _Reader, name: str) -> frozenset[str]:
    roles = row.get(name, list, [])
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise row.fail(name, f"{unknown[0]!r} is not a role ({', '.join(sorted(ROLES))})")
    return frozenset(roles)


def _rules(
    root: _Reader, grades: tuple[GradeSpec, ...], items: dict[str, CatalogueItem]
) -> tuple[GradeRule, ...]:
    known = {g.id: g for g in grades}
    rules: list[GradeRule] = []
    for row in root.rows("rule"):
        rule_id = row.text("id")
        grade = row.text("grade")
        if grade not in known:
            raise row.fail("grade", f"{grade!r} is not one of the grades {', '.join(known)}")
        when = row.text("when")
        if when not in ("any", "all", "otherwise"):
            raise row.fail("when", f"{when!r} is not any, all or otherwise")
        conditions = tuple(
            _condition(c, grades, items) for c in row.rows("conditions")
        )  # fmt: skip
        if when == "otherwise" and (conditions or "roles" in row.table):
            raise row.fail("conditions", "an otherwise rule applies to all: no conditions, roles")
        if when != "otherwise" and not conditions:
            raise row.fail("conditions", f"a rule matching {when} needs conditions")
        if any(r.id == rule_id for r in rules):
            raise row.fail("id", f"rule {rule_id} is listed twice")
        rule = GradeRule(
            rule_id,
            grade,
            when,
            conditions,
            row.text("zh"),
            row.text("en"),
            _roles(row, "roles"),
            _roles(row, "except_roles"),
        )
        row.done()
        rules.append(rule)
    _check_rule_order(root, rules, known)
    return tuple(rules)


def _check_rule_order(root: _Reader, rules: list[GradeRule], grades: dict[str, GradeSpec]) -> None:
    """One otherwise rule, last; every grade reachable; harsher thresholds first."""
    fallbacks = [i for i, r in enumerate(rules) if r.when == "otherwise"]
    if len(fallbacks) != 1 or fallbacks[0] != len(rules) - 1:
        raise root.fail("rule", 'exactly one rule, the last, must be `when = "otherwise"`')
    given = {r.grade for r in rules}
    missing = [g for g in grades if g not in given]
    if missing:
        raise root.fail("rule", f"no rule gives the grade {missing[0]}")
    # Rules that penalise (any) list thresholds by measure: a later rule for a better
    # grade must ask for less, or it overlaps the earlier one and can never match.
    seen: dict[tuple[Any, ...], tuple[int, GradeRule, Condition]] = {}
    for i, rule in enumerate(rules):
        if rule.when != "any":
            continue
        for condition in rule.conditions:
            if condition.comparison not in RISING:
                continue
            key = (condition.measure, rule.roles, rule.except_roles)
            if key in seen:
                _, earlier, before = seen[key]
                assert not isinstance(before.value, bool)
                assert not isinstance(condition.value, bool)
                if grades[earlier.grade].rank <= grades[rule.grade].rank:
                    raise PolicyError(
                        root.file,
                        f"rule[{i}]",
                        f"rule {rule.id} (grade {rule.grade}) comes after rule {earlier.id} "
                        f"(grade {earlier.grade}) on {condition.metric}: harsher grades first",
                    )
                if condition.value >= before.value:
                    raise PolicyError(
                        root.file,
                        f"rule[{i}]",
                        f"rule {rule.id} asks {condition.metric} {condition.comparison} "
                        f"{condition.value}, not less than rule {earlier.id}'s "
                        f"{before.value}: the thresholds overlap or are out of order",
                    )
            seen[key] = (i, rule, condition)


def _measures(root: _Reader, grades: tuple[GradeSpec, ...]) -> dict[str, Measures]:
    table = root.sub("measures")
    known = [g.id for g in grades]
    for name in table.table:
        if name not in known:
            raise table.fail(name, f"measures for {name!r}, which is not a grade of this policy")
    measures: dict[str, Measures] = {}
    previous: tuple[str, Fraction] | None = None
    for grade in known:
        if grade not in table.table:
            raise table.fail(grade, f"grade {grade} has no measures")
        row = table.sub(grade)
        rate = _number(row, "inspection_percent")
        if rate > 100:
            raise row.fail("inspection_percent", f"{rate} is over 100")
        if previous is not None and rate < previous[1]:
            raise row.fail(
                "inspection_percent",
                f"{rate} % is less than the better grade {previous[0]}'s {previous[1]} %",
            )
        previous = (grade, rate)
        measures[grade] = Measures(
            rate,
            row.get("document_review", bool),
            row.get("paperless", bool),
            row.get("green_channel", bool),
            row.get("targeted_control", bool),
            row.text("public_list", None),
        )
        row.done()
    table.done()
    return measures


def _disclosure(root: _Reader) -> dict[str, int]:
    table = root.sub("severity")
    days = {}
    for severity in SEVERITIES:
        row = table.sub(severity)
        days[severity] = row.count("disclose_days")
        row.done()
    for name in table.table:
        if name not in SEVERITIES:
            raise table.fail(name, f"{name!r} is not one of {', '.join(SEVERITIES)}")
    table.done()
    return days


def _grade_set(row: _Reader, name: str, grades: tuple[GradeSpec, ...]) -> frozenset[str]:
    listed = row.get(name, list)
    unknown = [g for g in listed if all(spec.id != g for spec in grades)]
    if unknown or not listed:
        what = f"{unknown[0]!r} is not a grade of this policy" if unknown else "is empty"
        raise row.fail(name, what)
    return frozenset(listed)


def _repair(root: _Reader, grades: tuple[GradeSpec, ...]) -> RepairRules:
    row = root.sub("repair")
    grounds = row.sub("ground_wait_days", {})
    ground_waits = {name: grounds.count(name, minimum=1) for name in grounds.table}
    rules = RepairRules(
        _grade_set(row, "request_grades", grades),
        row.count("wait_days", minimum=1),
        row.count("automatic_clean_days", minimum=1),
        ground_waits,
    )
    row.done()
    return rules


def _blacklist(root: _Reader, grades: tuple[GradeSpec, ...]) -> BlacklistRules:
    row = root.sub("blacklist")
    rules = BlacklistRules(
        _grade_set(row, "propose_grades", grades),
        row.count("notice_days", minimum=1),
        row.count("removal_clean_days", minimum=1),
    )
    row.done()
    return rules


RISK_CLASSES = ("low", "medium", "high")


def _risk_factors(root: _Reader) -> dict[str, Fraction]:
    table = root.sub("risk_factors")
    factors = {}
    for risk in RISK_CLASSES:
        factors[risk] = _number(table, risk)
        if factors[risk] == 0:
            raise table.fail(risk, "must be more than 0")
    table.done()
    if not factors["low"] <= factors["medium"] <= factors["high"]:
        raise table.fail(
            "high", "the factors must not fall as the risk rises (low ≤ medium ≤ high)"
        )
    return factors


def parse_policy(text: str, file: str) -> Policy:
    """A policy from the text of ``file``; PolicyError names the key of the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(file, "(file)", f"is not valid TOML: {exc}") from None
    root = _Reader(file, data)
    policy_id = root.text("id")
    start = root.date("effective_from")
    until = root.date("effective_until", None)
    if until is not None and until <= start:
        raise root.fail("effective_until", f"{until} is not after effective_from {start}")
    grades = _grades(root)
    items = _items(root)
    policy = Policy(
        id=policy_id,
        version=root.count("version", minimum=1),
        title=root.text("title"),
        title_en=root.text("title_en"),
        effective_from=start,
        effective_until=until,
        cycle_days=root.count("cycle_days", minimum=1),
        grades=grades,
        rules=_rules(root, grades, items),
        measures=_measures(root, grades),
        items=items,
        disclose_days=_disclosure(root),
        repair=_repair(root, grades),
        blacklist=_blacklist(root, grades),
        risk_factors=_risk_factors(root),
    )
    unknown = sorted(set(policy.repair.ground_wait_days) - {r.id for r in policy.rules})
    if unknown:
        raise PolicyError(file, f"repair.ground_wait_days.{unknown[0]}", "is not a rule id")
    root.done()
    return policy


def read_policy_file(path: Path) -> Policy:
    """The policy in ``path``, whose id must be its file name."""
    policy = parse_policy(path.read_text(encoding="utf-8"), path.name)
    if policy.id != path.stem:
        raise PolicyError(path.name, "id", f"{policy.id!r} is not the file's name {path.stem!r}")
    return policy


def policy_ids() -> list[str]:
    return list(_policy_files())


@cache
def _policy_files() -> tuple[str, ...]:
    """The ids of the policy folder's files, read once: they ship with the code (every
    feed page and disclosure check asks for the policy, and a directory listing each
    time cost more than the rest of a cached feed page's answer)."""
    return tuple(sorted(path.stem for path in POLICY_DIR.glob("*.toml")))


def load_policy(policy_id: str = DEFAULT_POLICY) -> Policy:
    """The policy of that id: only a file of the policy folder, by its exact name (an id
    from a request never names a path)."""
    known = policy_ids()
    if policy_id not in known:
        shown = policy_id if len(policy_id) <= 40 else policy_id[:40] + "…"
        raise PolicyError(f"{shown}.toml", "id", f"no such policy (known: {', '.join(known)})")
    return _load_known(policy_id)


@cache
def _load_known(policy_id: str) -> Policy:
    return read_policy_file(POLICY_DIR / f"{policy_id}.toml")


def all_policies() -> list[Policy]:
    return [load_policy(policy_id) for policy_id in policy_ids()]
