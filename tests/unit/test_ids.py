"""Identifiers: USCC (GB 32100 + GB 11714), GTIN (GS1), HS codes and ISO 3166 countries.

Every row of the test vectors (``tests/testdata/ids``) is checked, then
generated codes, every single-character substitution, and the error messages.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.records.ids import (
    IdentifierError,
    gtin_check_digit,
    normalise_country,
    normalise_gtin,
    normalise_hs_code,
    normalise_uscc,
    org_code_check_character,
    uscc_check_character,
)
from tests.conftest import TESTDATA

IDS = TESTDATA / "ids"

# From testdata/ids/README.md: alphabet 0-9A-HJ-NPQRTUWXY (no I, O, S, V, Z).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
NOT_IN_ALPHABET = "IOSVZ"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _read_rows(name: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (IDS / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, expect, note = line.split("\t", 2)
        rows.append((code, expect, note))
    return rows


USCC_ROWS = _read_rows("uscc.tsv")
GTIN_ROWS = _read_rows("gtin.tsv")
VALID_USCCS = [code for code, expect, _ in USCC_ROWS if expect == "valid"]
VALID_GTINS = [code for code, expect, _ in GTIN_ROWS if expect == "valid"]


def _params(rows: list[tuple[str, str, str]]) -> list[object]:
    return [pytest.param(code, expect, note, id=f"{expect}:{code}") for code, expect, note in rows]


# --- independent reference implementations of the check characters -----------------


def ref_uscc_check(first17: str) -> str:
    total = sum(ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return ALPHABET[(31 - total % 31) % 31]


def ref_org_check(body8: str) -> str:
    values = [int(c, 36) for c in body8]  # 0-9, then A=10 ... Z=35
    check = 11 - sum(v * w for v, w in zip(values, ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def ref_gtin_check(body: str) -> int:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def make_uscc(prefix8: str, body8: str) -> str:
    """A valid USCC: 8 characters, an organisation code body and its GB 11714 check."""
    first17 = prefix8 + body8 + org_code_check_character(body8)
    return first17 + uscc_check_character(first17)


def _generated_usccs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    codes = []
    for i in range(count):
        prefix = "".join(rng.choice(ALPHABET) for _ in range(8))
        if i % 4 < 3:  # a share with registration authority A, N and Y
            prefix = "ANY"[i % 4] + prefix[1:]
        body = "".join(rng.choice(ALPHABET) for _ in range(8))
        codes.append(make_uscc(prefix, body))
    return codes


GENERATED_USCCS = _generated_usccs(12, seed=20261122)


# --- the vectors ----------------------------------------------------------------------


def test_vector_files_are_read() -> None:
    assert len(USCC_ROWS) >= 13
    assert len(GTIN_ROWS) >= 9
    assert {e for _, e, _ in USCC_ROWS} <= {"valid", "invalid", "normalise"}
    assert {e for _, e, _ in GTIN_ROWS} <= {"valid", "invalid", "normalise"}
    assert {"A", "N", "Y", "9"} <= {code[0] for code in VALID_USCCS}


def _uscc_message_for(note: str) -> str | None:
    if "check character" in note:
        return "check character"
    if "characters" in note:  # "17 characters", "19 characters"
        return "18 characters"
    if "alphabet" in note:
        return "alphabet"
    return None


def _gtin_message_for(note: str) -> str | None:
    if "check digit" in note:
        return "check digit"
    if "non-digit" in note:
        return "digits only"
    if "short" in note or "long" in note:
        return "8, 12, 13 or 14 digits"
    return None


@pytest.mark.parametrize(("code", "expect", "note"), _params(USCC_ROWS))
def test_uscc_vectors(code: str, expect: str, note: str) -> None:
    if expect == "valid":
        stored = normalise_uscc(code)
        assert stored == code.upper() == code
        assert normalise_uscc(stored) == stored
        # Both check characters hold, by the independent reference implementations.
        assert ref_uscc_check(code[:17]) == code[17]
        assert ref_org_check(code[8:16]) == code[16]
    elif expect == "normalise":
        # README: accept as upper case or refuse; the brief: accept, stored upper case.
        stored = normalise_uscc(code)
        assert stored == code.upper()
        assert stored.isupper()
        assert not any(c.islower() for c in stored)
    else:
        with pytest.raises(IdentifierError) as excinfo:
            normalise_uscc(code)
        message = str(excinfo.value)
        assert message
        wanted = _uscc_message_for(note)
        if wanted is not None:
            assert wanted in message, (note, message)


@pytest.mark.parametrize(("code", "expect", "note"), _params(GTIN_ROWS))
def test_gtin_vectors(code: str, expect: str, note: str) -> None:
    if expect == "valid":
        stored = normalise_gtin(code)
        assert stored == code.zfill(14)
        assert len(stored) == 14
        assert stored.isascii()
        assert stored.isdigit()
        assert normalise_gtin(stored) == stored
        assert ref_gtin_check(code[:-1]) == int(code[-1])
    else:
        with pytest.raises(IdentifierError) as excinfo:
            normalise_gtin(code)
        message = str(excinfo.value)
        assert message
        wanted = _gtin_message_for(note)
        if wanted is not None:
            assert wanted in message, (note, message)


def test_gtin13_is_stored_as_the_same_gtin14() -> None:
    assert normalise_gtin("9506000134352") == "09506000134352"
    assert normalise_gtin("09506000134352") == "09506000134352"
    assert normalise_gtin("6901234567892") == "06901234567892"
    assert normalise_gtin("96385074") == "00000096385074"
    assert normalise_gtin("036000291452") == "00036000291452"


# --- USCC: check characters, generated codes, substitutions --------------------------------


def test_known_check_characters() -> None:
    assert uscc_check_character("9144030034527391X") == "N"
    assert uscc_check_character("91110108600257467") == "C"
    assert org_code_check_character("34527391") == "X"
    assert org_code_check_character("60025746") == "7"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17))
def test_uscc_check_character_matches_reference(first17: str) -> None:
    assert uscc_check_character(first17) == ref_uscc_check(first17)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8))
def test_org_code_check_character_matches_reference(body8: str) -> None:
    assert org_code_check_character(body8) == ref_org_check(body8)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ALPHABET),
    st.text(alphabet=ALPHABET, min_size=7, max_size=7),
    st.text(alphabet=ALPHABET, min_size=8, max_size=8),
)
def test_generated_usccs_are_accepted(authority: str, rest: str, body8: str) -> None:
    code = make_uscc(authority + rest, body8)
    assert len(code) == 18
    assert normalise_uscc(code) == code
    assert normalise_uscc(code.lower()) == code
    assert normalise_uscc(f"  {code}\n") == code


@pytest.mark.parametrize("authority", ["A", "N", "Y", "1", "5", "9"])
def test_registration_authorities_accepted(authority: str) -> None:
    # stdnum.cn.uscc wrongly refuses A, N and Y; GB 32100 allows them.
    rng = random.Random(authority)
    for _ in range(20):
        rest = "".join(rng.choice(ALPHABET) for _ in range(7))
        body = "".join(rng.choice(ALPHABET) for _ in range(8))
        code = make_uscc(authority + rest, body)
        assert normalise_uscc(code) == code


@pytest.mark.parametrize("code", VALID_USCCS + GENERATED_USCCS)
def test_every_single_substitution_of_a_valid_uscc_is_refused(code: str) -> None:
    assert normalise_uscc(code) == code
    for position in range(18):
        for replacement in ALPHABET + NOT_IN_ALPHABET:
            if replacement == code[position]:
                continue
            changed = code[:position] + replacement + code[position + 1 :]
            with pytest.raises(IdentifierError) as excinfo:
                normalise_uscc(changed)
            message = str(excinfo.value)
            if replacement in NOT_IN_ALPHABET:
                assert "alphabet" in message
                assert replacement in message
            else:
                assert "check character" in message


@pytest.mark.parametrize("code", VALID_USCCS)
def test_gb11714_organisation_check_is_enforced(code: str) -> None:
    # Change one digit of the organisation code body, then recompute the final GB 32100
    # check character: only the GB 11714 check (character 17) can catch it.
    refused = 0
    for position in range(8, 16):
        if not code[position].isdigit():
            continue
        for digit in "0123456789":
            if digit == code[position]:
                continue
            first16 = code[:position] + digit + code[position + 1 : 16]
            first17 = first16 + code[16]
            changed = first17 + uscc_check_character(first17)
            assert ref_org_check(first16[8:16]) != code[16]
            with pytest.raises(IdentifierError, match="check character"):
                normalise_uscc(changed)
            refused += 1
    assert refused > 0


@pytest.mark.parametrize("length", [0, 1, 8, 15, 16, 17, 19, 20, 36])
def test_uscc_wrong_length_refused(length: int) -> None:
    code = ("9144030034527391XN" * 3)[:length]
    with pytest.raises(IdentifierError, match="18 characters"):
        normalise_uscc(code)


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z", "-", "*", " ", "é", "Ｎ", "ı"])
def test_uscc_character_outside_the_alphabet_refused(bad: str) -> None:
    code = "9144030034527391XN"
    changed = code[:5] + bad + code[6:]
    with pytest.raises(IdentifierError, match="alphabet"):
        normalise_uscc(changed)


def test_uscc_wrong_check_character_message_names_the_expected_one() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_uscc("9144030034527391XP")
    message = str(excinfo.value)
    assert "check character" in message
    assert "N" in message
    assert "P" in message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=24))
def test_uscc_accepts_only_18_alphabet_characters(value: str) -> None:
    try:
        stored = normalise_uscc(value)
    except IdentifierError as exc:
        assert str(exc)
        return
    assert len(stored) == 18
    assert set(stored) <= set(ALPHABET)
    assert ref_uscc_check(stored[:17]) == stored[17]
    assert ref_org_check(stored[8:16]) == stored[16]


# --- GTIN ------------------------------------------------------------------------------------


def _generated_gtins() -> list[str]:
    rng = random.Random(8_12_13_14)
    codes = []
    for length in (8, 12, 13, 14):
        for _ in range(3):
            body = "".join(rng.choice("0123456789") for _ in range(length - 1))
            codes.append(body + str(ref_gtin_check(body)))
    return codes


@pytest.mark.parametrize("code", VALID_GTINS + _generated_gtins())
def test_every_single_digit_change_of_a_valid_gtin_is_refused(code: str) -> None:
    assert normalise_gtin(code) == code.zfill(14)
    for position in range(len(code)):
        for digit in "0123456789":
            if digit == code[position]:
                continue
            changed = code[:position] + digit + code[position + 1 :]
            with pytest.raises(IdentifierError, match="check digit"):
                normalise_gtin(changed)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([8, 12, 13, 14]).flatmap(
        lambda n: st.text("0123456789", min_size=n - 1, max_size=n - 1)
    )
)
def test_generated_gtins_are_accepted(body: str) -> None:
    assert gtin_check_digit(body) == ref_gtin_check(body)
    code = body + str(gtin_check_digit(body))
    assert normalise_gtin(code) == code.zfill(14)


@pytest.mark.parametrize("length", [1, 3, 7, 9, 10, 11, 15, 18])
def test_gtin_wrong_length_refused(length: int) -> None:
    body = ("1234567890" * 2)[: length - 1]
    code = body + str(ref_gtin_check(body))  # a valid check digit, so only the length is wrong
    with pytest.raises(IdentifierError, match="8, 12, 13 or 14 digits"):
        normalise_gtin(code)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0950600013435A",
        "950600013435-2",
        "9506 00013435 2",
        "６９０１２３４５６７８９２",
        "+6901234567892",
    ],
)
def test_gtin_non_digits_refused(value: str) -> None:
    with pytest.raises(IdentifierError, match="digits only"):
        normalise_gtin(value)


def test_gtin_wrong_check_digit_message_names_the_expected_one() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_gtin("09506000134353")
    message = str(excinfo.value)
    assert "check digit" in message
    assert "2" in message


# --- HS codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("090121", "090121"),
        ("0901.21", "090121"),
        ("0901.21.00", "09012100"),
        ("2204.21.0000", "2204210000"),
        ("0901210000", "0901210000"),
        ("1234567", "1234567"),
        (" 8517.62 ", "851762"),
    ],
)
def test_hs_code_accepted(value: str, stored: str) -> None:
    assert normalise_hs_code(value) == stored
    assert normalise_hs_code(stored) == stored


@pytest.mark.parametrize(
    "value", ["", "12345", "0901.2", "09012100001", "0901.21.00001", "0901a1", "0901-21", "ABCDEF"]
)
def test_hs_code_refused(value: str) -> None:
    with pytest.raises(IdentifierError, match="6 to 10 digits"):
        normalise_hs_code(value)


# --- countries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("CN", "CN"),
        ("cn", "CN"),
        ("Cn", "CN"),
        (" us ", "US"),
        ("HK", "HK"),
        ("GB", "GB"),
        ("de", "DE"),
    ],
)
def test_country_accepted(value: str, stored: str) -> None:
    assert normalise_country(value) == stored


@pytest.mark.parametrize("value", ["XX", "UK", "xx", "uk", "CHN", "C", "", "EU", "ＣＮ", "156"])
def test_country_refused(value: str) -> None:
    with pytest.raises(IdentifierError, match="ISO 3166") as excinfo:
        normalise_country(value)
    assert repr(value) in str(excinfo.value)


def test_identifier_error_is_a_value_error() -> None:
    assert issubclass(IdentifierError, ValueError)
