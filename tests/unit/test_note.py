"""C2SP signed-note: the specification's example, key round trips and refusals."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.tlog.note import NoteError, Signer, Verifier, key_id, open_note, sign_note, split_note
from tests.conftest import TESTDATA

C2SP = TESTDATA / "c2sp"

EXAMPLE_BODY = "This is an example message.\n"
EM_DASH = "\u2014"
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _vkey() -> str:
    return (C2SP / "signed-note-example.vkey").read_text(encoding="utf-8")


def _note() -> str:
    return (C2SP / "signed-note-example.note").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier.parse(_vkey())


def _fixed_signer(name: str, seed: int) -> Signer:
    """A deterministic key, so that no test depends on what random bytes a key happens to hold."""
    return Signer(
        name, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(bytes([seed])).digest())
    )


@pytest.fixture(scope="module")
def signer() -> Signer:
    return _fixed_signer("example.com/ledger", 1)


def _signature_b64(note: str) -> tuple[int, str]:
    """(offset in note, text) of the base64 blob in the note's only signature line."""
    line = note.rstrip("\n").rsplit("\n", 1)[1]
    blob = line.rsplit(" ", 1)[1]
    return note.rindex(blob), blob


# --- the specification example ---------------------------------------------------


def test_example_verifies(verifier: Verifier) -> None:
    assert open_note(_note(), verifier) == EXAMPLE_BODY


def test_example_key_id(verifier: Verifier) -> None:
    assert verifier.name == "example.com/foo"
    assert verifier.key_id == bytes.fromhex("530d903a")
    expected = hashlib.sha256(b"example.com/foo\n\x01" + verifier.public_bytes).digest()[:4]
    assert key_id("example.com/foo", verifier.public_bytes) == expected == verifier.key_id
    assert str(verifier) == _vkey().strip()


def test_example_split(verifier: Verifier) -> None:
    text, sigs = split_note(_note())
    assert text == EXAMPLE_BODY
    assert len(sigs) == 1
    assert sigs[0].name == "example.com/foo"
    assert sigs[0].key_id == verifier.key_id
    assert len(sigs[0].signature) == 64


def _body_mutations() -> list[tuple[int, int]]:
    return [(pos, mask) for pos in range(len(EXAMPLE_BODY)) for mask in (0x01, 0x20)]


@pytest.mark.parametrize(("pos", "mask"), _body_mutations())
def test_changing_any_body_byte_is_refused(verifier: Verifier, pos: int, mask: int) -> None:
    note = _note()
    assert note.startswith(EXAMPLE_BODY)
    changed = chr(ord(note[pos]) ^ mask)
    tampered = note[:pos] + changed + note[pos + 1 :]
    assert tampered != note
    with pytest.raises(NoteError):
        open_note(tampered, verifier)


def test_changing_any_signature_character_is_refused(verifier: Verifier) -> None:
    note = _note()
    start, blob = _signature_b64(note)
    accepted = []
    for i, ch in enumerate(blob):
        # Flip the high bit of the 6-bit value: always changes the decoded bytes, even
        # in the last character whose low bits are padding. Padding becomes data.
        replacement = "A" if ch == "=" else B64_ALPHABET[B64_ALPHABET.index(ch) ^ 0b100000]
        tampered = note[: start + i] + replacement + note[start + i + 1 :]
        try:
            open_note(tampered, verifier)
        except NoteError:
            continue
        accepted.append(i)
    assert accepted == []


@pytest.mark.parametrize("pos", range(68))
def test_changing_any_signature_byte_is_refused(verifier: Verifier, pos: int) -> None:
    # Key ID (bytes 0..3) and Ed25519 signature (4..67), changed after decoding.
    note = _note()
    start, blob = _signature_b64(note)
    raw = bytearray(base64.b64decode(blob))
    assert len(raw) == 68
    raw[pos] ^= 0x01
    tampered = note[:start] + base64.b64encode(bytes(raw)).decode() + note[start + len(blob) :]
    with pytest.raises(NoteError):
        open_note(tampered, verifier)


@pytest.mark.parametrize("replacement", ["N", "O", "P"])
def test_non_canonical_signature_base64_is_refused(verifier: Verifier, replacement: str) -> None:
    note = _note()
    assert note.rstrip("\n").endswith("QM=")
    tampered = note.replace("QM=\n", f"Q{replacement}=\n")
    assert tampered != note
    with pytest.raises(NoteError):
        open_note(tampered, verifier)


def test_other_verifier_refuses_example(signer: Signer) -> None:
    with pytest.raises(NoteError):
        open_note(_note(), signer.verifier)
    # Same name as the example key but another key: the key IDs differ.
    impostor = _fixed_signer("example.com/foo", 2)
    with pytest.raises(NoteError):
        open_note(_note(), impostor.verifier)


# --- keys ----------------------------------------------------------------------


def test_signer_and_verifier_round_trip(signer: Signer) -> None:
    text = "round trip\n"
    serialized = signer.serialize()
    assert serialized.startswith("PRIVATE+KEY+example.com/ledger+")
    again = Signer.parse(serialized)
    assert again.serialize() == serialized
    assert again.verifier.key_id == signer.verifier.key_id
    # Ed25519 is deterministic: the same key signs identically.
    assert sign_note(text, again) == sign_note(text, signer)

    vkey = str(signer.verifier)
    name, hex_id, b64key = vkey.split("+", 2)
    assert name == "example.com/ledger"
    assert bytes.fromhex(hex_id) == key_id(name, signer.verifier.public_bytes)
    assert base64.b64decode(b64key) == b"\x01" + signer.verifier.public_bytes
    parsed = Verifier.parse(vkey)
    assert parsed.name == signer.name
    assert parsed.key_id == signer.verifier.key_id
    assert parsed.public_bytes == signer.verifier.public_bytes
    assert open_note(sign_note(text, again), parsed) == text


def test_generated_keys_round_trip() -> None:
    first, second = Signer.generate("log.example/a"), Signer.generate("log.example/a")
    assert first.verifier.public_bytes != second.verifier.public_bytes
    parsed = Signer.parse(first.serialize())
    assert parsed.verifier.public_bytes == first.verifier.public_bytes
    note = sign_note("generated\n", parsed)
    assert open_note(note, Verifier.parse(str(first.verifier))) == "generated\n"
    with pytest.raises(NoteError):
        open_note(note, second.verifier)


def test_sign_note_format(signer: Signer) -> None:
    text = "line one\nline two\n"
    note = sign_note(text, signer)
    assert note.startswith(text + "\n" + EM_DASH + " example.com/ledger ")
    assert note.endswith("\n")
    assert note.count("\n") == 4
    _, blob = _signature_b64(note)
    raw = base64.b64decode(blob)
    assert raw[:4] == signer.verifier.key_id
    assert len(raw) == 68
    assert open_note(note, signer.verifier) == text


def test_repr_hides_the_private_key(signer: Signer) -> None:
    secret = signer.serialize().split("+", 4)[4]
    assert len(secret) == 44
    assert secret not in repr(signer)


def _example_key_parts() -> tuple[str, str, str]:
    name, hex_id, b64key = _vkey().strip().split("+", 2)
    return name, hex_id, b64key


def _bad_vkeys() -> list[str]:
    name, hex_id, b64key = _example_key_parts()
    raw = base64.b64decode(b64key)
    short = base64.b64encode(raw[:-1]).decode()
    long = base64.b64encode(raw + b"x").decode()
    not_ed25519 = base64.b64encode(bytes([2]) + raw[1:]).decode()
    return [
        "",
        name,
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+",
        f"+{hex_id}+{b64key}",  # empty name
        f"example.com foo+{hex_id}+{b64key}",  # space in name
        f"{name}+530d903b+{b64key}",  # wrong key id
        f"{name}+530d903+{b64key}",  # short key id
        f"{name}+530d903a0+{b64key}",  # long key id
        f"{name}+530d903g+{b64key}",  # not hex
        f"example.com/bar+{hex_id}+{b64key}",  # name not matching the key id
        f"{name}+{hex_id}+{b64key[:-1]}",  # broken base64
        f"{name}+{hex_id}+{b64key}!",
        f"{name}+{hex_id}+{short}",  # 31-byte key
        f"{name}+{hex_id}+{long}",  # 33-byte key
        f"{name}+{hex_id}+{not_ed25519}",  # not Ed25519
    ]


@pytest.mark.parametrize("vkey", _bad_vkeys())
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


def test_malformed_signer_keys_are_refused(signer: Signer) -> None:
    good = signer.serialize()
    prefix, _, rest = good.partition("PRIVATE+KEY+")
    assert prefix == ""
    name, hex_id, b64 = rest.split("+", 2)
    wrong_id = f"{int(hex_id, 16) ^ 1:08x}"
    not_ed25519 = base64.b64encode(bytes([2]) + bytes(32)).decode()
    for bad in [
        rest,  # no PRIVATE+KEY+ prefix
        f"PRIVATE+KEY+{name}+{wrong_id}+{b64}",
        f"PRIVATE+KEY+other.example+{hex_id}+{b64}",  # key id is bound to the name
        f"PRIVATE+KEY+{name}+{hex_id}",
        f"PRIVATE+KEY+{name}+{hex_id}+{b64[:-2]}",
        f"PRIVATE+KEY+{name}+{hex_id}+{not_ed25519}",
    ]:
        with pytest.raises(NoteError):
            Signer.parse(bad)


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\there", "nbsp\u00a0x"])
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(NoteError):
        Signer.generate(name)


# --- malformed and foreign notes -------------------------------------------------


def _bad_notes(signer: Signer) -> dict[str, str]:
    text = "checkpoint body\n"
    good = sign_note(text, signer)
    sig_line = signer.sign_line(text)
    blob = sig_line.rsplit(" ", 1)[1].rstrip("\n")
    return {
        "missing blank line": text + sig_line,
        "no signature": text + "\n",
        "no signature lines at all": text,
        "empty note": "",
        "no trailing newline": good.rstrip("\n"),
        "hyphen instead of em dash": good.replace(EM_DASH, "-"),
        "no space after em dash": good.replace(EM_DASH + " ", EM_DASH),
        "wrong name": good.replace("example.com/ledger", "example.com/other"),
        "wrong key id": good.replace(
            blob,
            base64.b64encode(
                bytes([base64.b64decode(blob)[0] ^ 1]) + base64.b64decode(blob)[1:]
            ).decode(),
        ),
        "extra field": good.replace(blob, blob + " extra"),
        "signature too short": good.replace(blob, base64.b64encode(b"\x00\x01\x02").decode()),
        "signature not base64": good.replace(blob, blob[:-4] + "!!!!"),
        "truncated signature": good.replace(
            blob, base64.b64encode(base64.b64decode(blob)[:-1]).decode()
        ),
        "empty line after signature": good + "\n",
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing blank line",
        "no signature",
        "no signature lines at all",
        "empty note",
        "no trailing newline",
        "hyphen instead of em dash",
        "no space after em dash",
        "wrong name",
        "wrong key id",
        "extra field",
        "signature too short",
        "signature not base64",
        "truncated signature",
        "empty line after signature",
    ],
)
def test_malformed_notes_are_refused(signer: Signer, case: str) -> None:
    note = _bad_notes(signer)[case]
    assert note != sign_note("checkpoint body\n", signer)
    with pytest.raises(NoteError):
        open_note(note, signer.verifier)


def test_note_signed_by_another_key_is_refused(signer: Signer) -> None:
    other = _fixed_signer("example.com/other", 3)
    note = sign_note("hello\n", other)
    with pytest.raises(NoteError):
        open_note(note, signer.verifier)
    # Another key under the same name: the name matches, the key ID does not.
    same_name = _fixed_signer(signer.name, 4)
    assert same_name.verifier.key_id != signer.verifier.key_id
    with pytest.raises(NoteError):
        open_note(sign_note("hello\n", same_name), signer.verifier)
    # A line that claims the right name and key ID but carries another key's signature.
    line = same_name.sign_line("hello\n")
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    relabelled = base64.b64encode(signer.verifier.key_id + raw[4:]).decode()
    forged = "hello\n\n" + line.rsplit(" ", 1)[0] + " " + relabelled + "\n"
    assert split_note(forged)[1][0].key_id == signer.verifier.key_id
    with pytest.raises(NoteError, match="invalid"):
        open_note(forged, signer.verifier)


def test_unknown_signatures_are_ignored(signer: Signer) -> None:
    # C2SP: verifiers MUST ignore signatures from unknown keys.
    other = _fixed_signer("witness.example/w1", 5)
    text = "cosigned\n"
    note = text + "\n" + other.sign_line(text) + signer.sign_line(text)
    assert open_note(note, signer.verifier) == text
    assert open_note(note, other.verifier) == text
    text_, sigs = split_note(note)
    assert text_ == text
    assert [s.name for s in sigs] == ["witness.example/w1", "example.com/ledger"]


@pytest.mark.parametrize("text", ["no newline", "", "\nleading blank\n"])
def test_sign_note_refuses_malformed_text(signer: Signer, text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, signer)


# --- C2SP requirements on the note as a whole ------------------------------------


def test_note_text_may_contain_empty_lines(signer: Signer) -> None:
    # The specification's own example text.
    text = (
        "Ognuno sta solo sul cuor della terra\n"
        "trafitto da un raggio di sole:\n"
        "\n"
        "ed è subito sera.\n"
    )
    note = text + "\n" + signer.sign_line(text)
    assert open_note(note, signer.verifier) == text


@pytest.mark.parametrize("control", ["\t", "\r", "\x00", "\x1b"])
def test_control_characters_in_note_are_refused(signer: Signer, control: str) -> None:
    text = f"a{control}b\n"
    note = text + "\n" + signer.sign_line(text)
    with pytest.raises(NoteError):
        open_note(note, signer.verifier)


def test_at_least_sixteen_signatures_are_accepted(signer: Signer) -> None:
    # C2SP: verifiers MUST accept at least up to 16 signatures.
    text = "widely cosigned\n"
    others = [_fixed_signer(f"witness.example/w{i}", 10 + i) for i in range(15)]
    note = text + "\n" + "".join(o.sign_line(text) for o in others) + signer.sign_line(text)
    assert len(split_note(note)[1]) == 16
    assert open_note(note, signer.verifier) == text
    assert open_note(note, others[0].verifier) == text


@pytest.mark.parametrize("control", ["\x01", "\x1b"])
def test_control_characters_in_signature_lines_are_refused(signer: Signer, control: str) -> None:
    text = "hello\n"
    foreign = f"\u2014 witness{control}.example {base64.b64encode(bytes(68)).decode()}\n"
    note = text + "\n" + signer.sign_line(text) + foreign
    with pytest.raises(NoteError):
        open_note(note, signer.verifier)


def test_note_that_is_not_valid_unicode_is_refused(signer: Signer) -> None:
    text = "hello\n"
    note = sign_note(text, signer).replace("hello", "he\udc80llo")
    with pytest.raises(NoteError):
        open_note(note, signer.verifier)
