"""Serials, Digital Link paths and URLs, code signatures and offline verification."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path
from urllib.parse import quote

import pytest

from ledger.records.kinds import parse_record
from ledger.tlog.note import Signer
from qr.links import DigitalLink, LinkError, code_url, parse_code_url, parse_path
from qr.serials import (
    ALPHABET,
    SERIAL_LENGTH,
    MalformedSerial,
    MistypedSerial,
    check_character,
    new_serials,
    parse_serial,
)
from qr.signing import (
    CodeKeyFileError,
    SignatureError,
    load_code_keys,
    load_or_create_code_keys,
    rotate_code_key,
    sign_url,
    verify_url_signature,
)
from qr.verify import FAILED, PASSED, SKIPPED, verify_offline

PUBLIC = "https://codes.example.cn"
GTIN = "06901234567892"
NAME = "test.credtrace.local/ledger/codes"


def test_serials_are_13_symbols_of_the_alphabet_and_the_ai21_charset() -> None:
    serials = new_serials(2000)
    assert len(set(serials)) == 2000
    for serial in serials:
        assert len(serial) == SERIAL_LENGTH
        assert set(serial) <= set(ALPHABET)
        assert parse_serial(serial) == serial
        # What codes.revoked accepts as a serial.
        parse_record(
            "codes.revoked", {"gtin": GTIN, "batch": "B1", "serials": [serial], "reason": "x"}
        )


def _valid_serial_with(pinned: dict[int, str]) -> str:
    """A serial with a valid check character holding ``pinned`` symbols at their positions.

    When the check position is pinned, a free body position is tried with every symbol:
    the check character runs through the whole alphabet as one body symbol does.
    """
    body = ["0"] * (SERIAL_LENGTH - 1)
    for position, symbol in pinned.items():
        if position < SERIAL_LENGTH - 1:
            body[position] = symbol
    check = pinned.get(SERIAL_LENGTH - 1)
    if check is None:
        return "".join(body) + check_character("".join(body))
    free = next(p for p in range(SERIAL_LENGTH - 1) if p not in pinned)
    for symbol in ALPHABET:
        body[free] = symbol
        if check_character("".join(body)) == check:
            return "".join(body) + check
    raise AssertionError(f"no serial with {pinned}")


def test_every_substitution_at_every_position_is_told_a_typo() -> None:
    """Exhaustive: every position, every ordered pair of distinct symbols."""
    caught = 0
    for position in range(SERIAL_LENGTH):
        for was, typed in itertools.permutations(ALPHABET, 2):
            serial = _valid_serial_with({position: was})
            assert parse_serial(serial) == serial
            typo = serial[:position] + typed + serial[position + 1 :]
            with pytest.raises(MistypedSerial):
                parse_serial(typo)
            caught += 1
    assert caught == SERIAL_LENGTH * 32 * 31


def test_every_adjacent_transposition_at_every_position_is_told_a_typo() -> None:
    """Exhaustive: every pair of neighbours, the check character's included, every pair of
    distinct symbols."""
    caught = 0
    for position in range(SERIAL_LENGTH - 1):
        for first, second in itertools.permutations(ALPHABET, 2):
            serial = _valid_serial_with({position: first, position + 1: second})
            assert parse_serial(serial) == serial
            swapped = serial[:position] + second + first + serial[position + 2 :]
            with pytest.raises(MistypedSerial):
                parse_serial(swapped)
            caught += 1
    assert caught == (SERIAL_LENGTH - 1) * 32 * 31


def test_every_symbol_a_serial_or_its_check_can_hold_is_ai21_and_url_safe() -> None:
    charset_82 = set("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
    charset_82 |= set("abcdefghijklmnopqrstuvwxyz")
    checks = {check_character(body) for body in (s[:-1] for s in new_serials(5000))}
    assert checks == set(ALPHABET)  # the check character uses the alphabet and nothing else
    for symbol in ALPHABET:
        assert symbol in charset_82
        assert quote(symbol, safe="") == symbol  # unreserved: never percent-encoded


def test_serials_are_read_as_crockford_reads_them() -> None:
    serial = next(s for s in new_serials(500) if "1" in s and "0" in s)
    typed = serial.lower().replace("1", "l").replace("0", "o")
    assert parse_serial(typed) == serial
    with pytest.raises(MalformedSerial, match="13 characters"):
        parse_serial(serial[:-1])
    with pytest.raises(MalformedSerial, match="'U'"):
        parse_serial("U" + serial[1:])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/01/6901234567892", DigitalLink(GTIN)),
        ("/01/06901234567892/", DigitalLink(GTIN)),
        ("/01/06901234567892/10/B1", DigitalLink(GTIN, "B1")),
        ("/01/06901234567892/10/B1/21/ABC", DigitalLink(GTIN, "B1", "ABC")),
        ("/01/96385074/10/L%2D1", DigitalLink("00000096385074", "L-1")),
        # GS1 Digital Link: 22, 10 and 21 are each optional, in that order.
        ("/01/06901234567892/21/ABC", DigitalLink(GTIN, serial="ABC")),
        ("/01/06901234567892/22/V1", DigitalLink(GTIN, variant="V1")),
        ("/01/06901234567892/22/V1/21/ABC", DigitalLink(GTIN, serial="ABC", variant="V1")),
        ("/01/06901234567892/22/2A/10/B1/21/ABC", DigitalLink(GTIN, "B1", "ABC", "2A")),
    ],
)
def test_well_formed_paths(path: str, expected: DigitalLink) -> None:
    link = parse_path(path)
    assert link == expected
    assert parse_path(link.path()) == link  # written back in the same order


def test_a_link_walks_up_towards_the_gtin_keeping_the_variant() -> None:
    link = DigitalLink(GTIN, "B1", "ABC", "V1")
    assert link.up() == DigitalLink(GTIN, "B1", variant="V1")
    assert link.up().up() == DigitalLink(GTIN, variant="V1")
    assert link.path() == f"/01/{GTIN}/22/V1/10/B1/21/ABC"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/01/06901234567893", "check digit"),
        ("/01/69012345678", "8, 12, 13 or 14 digits, got 11"),
        ("/01/690123456789x", "digits only"),
        ("/01/06901234567892/foo", "no value"),
        ("/01/06901234567892/foo/bar", "not a qualifier"),
        ("/01/06901234567892/21/S1/10/B1", "out of order"),
        ("/01/06901234567892/10/B1/22/V1", "out of order"),
        ("/01/06901234567892/21/S1/22/V1", "out of order"),
        ("/01/06901234567892/22/V1/22/V2", "twice"),
        ("/01/06901234567892/22/" + "V" * 21, "at most 20"),
        ("/01/06901234567892/22/V%201", "character set 82"),
        ("/01/06901234567892/22/", "no value"),
        ("/01", "names no GTIN"),
        ("/01/", "names no GTIN"),
        ("/01/06901234567892/10/B1/10/B2", "twice"),
        ("/01/06901234567892/10/" + "B" * 21, "at most 20"),
        ("/01/06901234567892/10/B%201", "character set 82"),
        ("/01/06901234567892/10/B1/21/%C3%A9", "character set 82"),
        ("/02/06901234567892", "starts with /01/"),
    ],
)
def test_malformed_paths_say_what_is_wrong(path: str, words: str) -> None:
    with pytest.raises(LinkError, match=words):
        parse_path(path)


def test_a_code_url_reads_back_and_only_its_canonical_form_is_taken() -> None:
    serial = new_serials(1)[0]
    url = code_url(PUBLIC, GTIN, "B1", serial)
    assert url == f"{PUBLIC}/01/{GTIN}/10/B1/21/{serial}"
    scanned = parse_code_url(url)
    assert scanned.link == DigitalLink(GTIN, "B1", serial) and scanned.sig is None
    for other in (
        url.replace(f"/01/{GTIN}", "/01/6901234567892"),
        url + "/",
        url + "?x=1",
        url + "#top",
        url.replace(serial, serial.lower()),
        url.replace(f"/01/{GTIN}/", f"/01/{GTIN}/22/V1/"),  # this service prints no variant
    ):
        with pytest.raises(LinkError):
            parse_code_url(other)


def test_the_key_file_is_private_and_rotation_keeps_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "codes.key"
    ring = load_or_create_code_keys(path, NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_code_keys(path, NAME).key_id == ring.key_id
    url = code_url(PUBLIC, GTIN, "B1", new_serials(1)[0])
    old_sig = sign_url(url, ring.current)
    rotated = rotate_code_key(path, NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rotated.key_id != ring.key_id and len(rotated.signers) == 2
    reloaded = load_code_keys(path, NAME)
    assert [s.verifier.key_id for s in reloaded.signers] == [
        s.verifier.key_id for s in rotated.signers
    ]
    # The old code still verifies, a new one is signed by the new key.
    assert (
        verify_url_signature(url, old_sig, reloaded.verifiers()).key_id
        == ring.signers[0].verifier.key_id
    )
    new_sig = sign_url(url, reloaded.current)
    assert (
        verify_url_signature(url, new_sig, reloaded.verifiers()).key_id
        == reloaded.current.verifier.key_id
    )
    os.chmod(path, 0o644)
    with pytest.raises(CodeKeyFileError, match="chmod 600"):
        load_code_keys(path, NAME)


def test_a_signature_by_another_key_or_over_another_url_is_refused() -> None:
    ours, theirs = Signer.generate(NAME), Signer.generate(NAME)
    url = code_url(PUBLIC, GTIN, "B1", new_serials(1)[0])
    with pytest.raises(SignatureError, match="not a known code key"):
        verify_url_signature(url, sign_url(url, theirs), [ours.verifier])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_url_signature(url + "X", sign_url(url, ours), [ours.verifier])


def test_offline_verification_accepts_the_code_and_refuses_every_changed_character() -> None:
    signer = Signer.generate(NAME)
    serial = new_serials(1)[0]
    canonical = code_url(PUBLIC, GTIN, "B1", serial)
    url = f"{canonical}?sig={sign_url(canonical, signer)}"
    report = verify_offline(url, [signer.verifier])
    assert report.ok, report.as_json()
    assert [c.status for c in report.checks] == [PASSED, PASSED, PASSED]
    replacements = "0aZ9-_"
    accepted = []
    for position in range(len(url)):
        for replacement in replacements:
            if replacement == url[position]:
                continue
            changed = url[:position] + replacement + url[position + 1 :]
            if verify_offline(changed, [signer.verifier]).ok:
                accepted.append(changed)
    assert accepted == []
    other = Signer.generate(NAME)
    forged = f"{canonical}?sig={sign_url(canonical, other)}"
    assert not verify_offline(forged, [signer.verifier]).ok


def test_an_unsigned_code_offline_is_well_formed_but_not_authenticated() -> None:
    url = code_url(PUBLIC, GTIN, "B1", new_serials(1)[0])
    report = verify_offline(url, [])
    assert not report.ok
    assert report.status("url") == PASSED and report.status("check_character") == PASSED
    assert report.status("signature") == SKIPPED
    typo = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert verify_offline(typo, []).status("check_character") == FAILED
