"""Policy files: both shipped policies load, and each kind of malformed or inconsistent
policy is refused at load, naming the file, the key and what is wrong."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import pytest

from credit.policy import POLICY_DIR, PolicyError, load_policy, parse_policy, read_policy_file

FILE = "cn-ciq-2014.toml"
CIQ = (POLICY_DIR / FILE).read_text(encoding="utf-8")


def test_the_shipped_policies_load_with_design_numbers() -> None:
    ciq = load_policy("cn-ciq-2014")
    assert [g.id for g in ciq.grades] == ["AA", "A", "B", "C", "D"]
    assert [r.grade for r in ciq.rules] == ["D", "C", "B", "AA", "A"]
    assert ciq.cycle_days == 365
    assert {g: m.inspection_percent for g, m in ciq.measures.items()} == {
        "AA": 1,
        "A": 5,
        "B": 20,
        "C": 50,
        "D": 100,
    }
    assert ciq.measures["AA"].public_list == "red"
    assert ciq.measures["D"].public_list == "black"
    assert ciq.disclose_days == {"minor": 0, "general": 365, "serious": 1095}
    assert (ciq.repair.wait_days, ciq.repair.automatic_clean_days) == (180, 730)
    assert ciq.blacklist.notice_days == 30
    assert ciq.items["ciq.adulteration"].points == 12
    assert ciq.effective_from == dt.date(2014, 1, 1)
    gacc = load_policy("cn-gacc-2026")
    assert gacc.grades[0].id == "advanced"
    routine = gacc.measures["routine"].inspection_percent
    assert gacc.measures["advanced"].inspection_percent <= routine * Fraction(20, 100)
    assert gacc.measures["dishonest"].inspection_percent >= 80
    assert sorted(set(gacc.repair.ground_wait_days.values())) == [180, 365]


def refusal(text: str, file: str = FILE) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, file)
    assert str(caught.value).startswith(f"{file}: {caught.value.key}: ")
    return caught.value


def changed(old: str, new: str) -> str:
    assert CIQ.count(old) >= 1, old
    return CIQ.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("id = [", "(file)", "is not valid TOML"),
        (changed("cycle_days = 365", "cycle_dayz = 365"), "cycle_days", "is missing"),
        (changed("version = 1", "version = 1\ncolour = 'red'"), "colour", "is not a key"),
        (changed("cycle_days = 365", "cycle_days = true"), "cycle_days", "must be an integer"),
        (changed('"2014-01-01"', '"2014-13-01"'), "effective_from", "is not a date"),
        (
            changed(
                'effective_from = "2014-01-01"',
                'effective_from = "2014-01-01"\neffective_until = "2013-12-31"',
            ),
            "effective_until",
            "is not after effective_from",
        ),
        (changed("[measures.C]", "[measures.X]"), "measures.X", "not a grade of this policy"),
        (
            changed(
                "[measures.D]\ninspection_percent = 100", "[measures.E]\ninspection_percent = 100"
            ),
            "measures.E",
            "not a grade",
        ),
        (changed('grade = "C"\nwhen', 'grade = "E"\nwhen'), "rule[1].grade", "is not one of"),
        (
            changed('id = "ciq.b"\ngrade = "B"', 'id = "ciq.b"\ngrade = "C"'),
            "rule",
            "no rule gives the grade B",
        ),
        (
            changed("at_least = 12 }", "at_least = 40 }"),
            "rule[1]",
            "thresholds overlap or are out of order",
        ),
        (changed("at_least = 12 }", "at_least = 36 }"), "rule[1]", "not less than rule ciq.d's 36"),
        (
            changed(
                'metric = "points", at_least = 6 }',
                'metric = "points", after_repair = true, at_least = 30 }',
            ),
            "rule[2]",
            "out of order",
        ),
        (
            changed('"blacklisted", is = true', '"blacklisted", at_least = 1'),
            "rule[0].conditions[0].at_least",
            "is = true|false",
        ),
        (
            changed('metric = "filing_age_days"', 'metric = "filing_days"'),
            "rule[2].conditions[1].metric",
            "is not a metric",
        ),
        (
            changed(
                'metric = "filing_age_days", below = 180',
                'metric = "filing_age_days", below = 180, above = 1',
            ),
            "rule[2].conditions[1].metric",
            "exactly one of",
        ),
        (
            changed(
                'metric = "filing_age_days", below = 180',
                'metric = "filing_age_days", severity = "minor", below = 180',
            ),
            "rule[2].conditions[1].severity",
            "not an option of the metric filing_age_days",
        ),
        (
            changed(
                'metric = "points", at_least = 6 }',
                'metric = "item_count", items = ["ciq.nothing"], at_least = 1 }',
            ),
            "rule[2].conditions[0].items",
            "'ciq.nothing' is not in this policy's catalogue",
        ),
        (
            changed('grade = "A", at_least = 365', 'grade = "Z", at_least = 365'),
            "rule[3].conditions[1].grade",
            "not a grade",
        ),
        (changed('when = "otherwise"', 'when = "any"'), "rule[4].conditions", "needs conditions"),
        (
            changed(
                'id = "ciq.aa"\ngrade = "AA"\nwhen = "all"',
                'id = "ciq.aa"\ngrade = "AA"\nwhen = "otherwise"',
            ),
            "rule[3].conditions",
            "applies to all",
        ),
        (changed('id = "ciq.a"\n', 'id = "ciq.b"\n'), "rule[4].id", "listed twice"),
        (
            changed("inspection_percent = 50", "inspection_percent = 10"),
            "measures.C.inspection_percent",
            "less than the better grade B's 20",
        ),
        (
            changed("inspection_percent = 100", "inspection_percent = 101"),
            "measures.D.inspection_percent",
            "over 100",
        ),
        (
            changed('severity = "minor"\npoints = 1', 'severity = "petty"\npoints = 1'),
            "item[0].severity",
            "is not one of minor",
        ),
        (changed("points = 12", "points = 0"), "item[7].points", "at least 1"),
        (
            changed('id = "ciq.late-declaration"', 'id = "ciq.declaration-error"'),
            "item[1].id",
            "listed twice",
        ),
        (
            changed(
                "[severity.general]\ndisclose_days = 365", "[severity.general]\ndisclose_days = -1"
            ),
            "severity.general.disclose_days",
            "at least 0",
        ),
        (
            changed('request_grades = ["D"]', 'request_grades = ["F"]'),
            "repair.request_grades",
            "'F' is not a grade",
        ),
        (changed("notice_days = 30", "notice_days = 0"), "blacklist.notice_days", "at least 1"),
        (changed('[[grade]]\nid = "A"\n', '[[grade]]\nid = "AA"\n'), "grade[1].id", "listed twice"),
    ],
)
def test_a_bad_policy_is_refused_naming_file_key_and_problem(
    text: str, key: str, problem: str
) -> None:
    error = refusal(text)
    assert error.key == key, str(error)
    assert problem in error.problem, str(error)


def test_a_policy_whose_id_is_not_its_file_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cn-other.toml"
    path.write_text(CIQ, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"^cn-other.toml: id: 'cn-ciq-2014' is not the file"):
        read_policy_file(path)


def test_an_unknown_policy_lists_the_known_ones() -> None:
    with pytest.raises(PolicyError, match="known: cn-ciq-2014, cn-gacc-2026"):
        load_policy("cn-none")


def test_a_repair_ground_must_be_a_rule() -> None:
    text = (POLICY_DIR / "cn-gacc-2026.toml").read_text(encoding="utf-8")
    error = refusal(
        text.replace('"gacc.penalties" = 180', '"gacc.penaltys" = 180'), "cn-gacc-2026.toml"
    )
    assert error.key == "repair.ground_wait_days.gacc.penaltys"
