"""Identifiers: USCC (GB 32100), GTIN (GS1), HS codes, ISO 3166 countries.

Each ``normalise_*`` returns the stored form or raises IdentifierError naming
what is wrong.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ledger.errors import InvalidInput

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]  # GB 11714 organisation code
_HS = re.compile(r"[0-9]{6,10}")
_DIGITS = re.compile(r"[0-9]+")
_USCC_SHAPE = re.compile(f"[{USCC_ALPHABET}]{{18}}")

ISO_3166_ALPHA2 = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    ]
)


class IdentifierError(InvalidInput):
    """An identifier is malformed or its check character is wrong."""


def uscc_check_character(first17: str) -> str:
    total = 0
    for c, w in zip(first17, _USCC_WEIGHTS, strict=True):  # a loop: twice a sum's speed
        total += _USCC_VALUE[c] * w
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_character(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = 0
    for c, w in zip(body8, _ORG_WEIGHTS, strict=True):
        total += (int(c) if c.isdigit() else ord(c) - 55) * w  # A=10 … Z=35
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


@lru_cache(maxsize=1 << 16)  # identifiers repeat a lot in bulk imports
def normalise_uscc(value: str) -> str:
    """An 18-character unified social credit code, upper case, both check characters valid.

    Registration authorities A, N and Y are valid (``stdnum.cn.uscc`` wrongly refuses them).
    """
    code = value.strip().upper()
    if len(code) != 18:
        raise IdentifierError(f"must be 18 characters, got {len(code)}")
    bad = None if _USCC_SHAPE.fullmatch(code) else sorted(set(code) - _USCC_VALUE.keys())
    if bad:
        raise IdentifierError(
            f"contains {''.join(bad)!r}, outside the GB 32100 alphabet (no I, O, S, V, Z)"
        )
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise IdentifierError(f"check character should be {expected}, got {code[17]}")
    expected_org = org_code_check_character(code[8:16])
    if code[16] != expected_org:
        raise IdentifierError(
            f"organisation code {code[8:17]} has check character {code[16]}, "
            f"GB 11714 gives {expected_org}"
        )
    return code


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the digits before it."""
    odd = body[::-2]  # from the right: the digit before the check digit weighs 3
    total = 3 * sum(map(int, odd)) + sum(map(int, body[-2::-2]))
    return (10 - total % 10) % 10


@lru_cache(maxsize=1 << 16)  # identifiers repeat a lot in bulk imports
def normalise_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 with a valid check digit, stored as 14 digits."""
    digits = value.strip()
    if not _DIGITS.fullmatch(digits):
        raise IdentifierError("must contain digits only")
    if len(digits) not in (8, 12, 13, 14):
        raise IdentifierError(f"must be 8, 12, 13 or 14 digits, got {len(digits)}")
    expected = gtin_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise IdentifierError(f"check digit should be {expected}, got {digits[-1]}")
    return digits.zfill(14)


@lru_cache(maxsize=1 << 16)  # identifiers repeat a lot in bulk imports
def normalise_hs_code(value: str) -> str:
    code = value.strip().replace(".", "")
    if not _HS.fullmatch(code):
        raise IdentifierError("must be 6 to 10 digits")
    return code


@lru_cache(maxsize=1 << 16)  # identifiers repeat a lot in bulk imports
def normalise_country(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_3166_ALPHA2:
        raise IdentifierError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code
