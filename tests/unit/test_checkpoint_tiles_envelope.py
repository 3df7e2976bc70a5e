"""C2SP tlog-checkpoint / tlog-proof, C2SP tlog-tiles coordinates, and entry envelopes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.audit.verify import EntryVerifier
from ledger.errors import InvalidInput
from ledger.tlog.checkpoint import (
    Checkpoint,
    CheckpointError,
    TlogProof,
    format_tlog_proof,
    open_checkpoint,
)
from ledger.tlog.envelope import (
    ZERO_HASH,
    EnvelopeError,
    check_kind,
    check_time,
    encode_chain,
    format_time,
    json_label,
    parse_envelope,
    payload_commitment,
)
from ledger.tlog.merkle import MemoryTree, hash_leaf, root_from_leaf_hashes
from ledger.tlog.note import Signer, sign_note
from ledger.tlog.tiles import (
    TilePathError,
    TileTree,
    encode_index,
    node_location,
    parse_tile_path,
    partial_width,
    tile_path,
    tiles_for_size,
)
from tests.strategies import NO_SURROGATES

ORIGIN = "example.com/credtrace"
ROOT = hashlib.sha256(b"root").digest()


def _signer(name: str, seed: int) -> Signer:
    return Signer(
        name, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(bytes([seed])).digest())
    )


@pytest.fixture(scope="module")
def signer() -> Signer:
    return _signer(ORIGIN, 1)


# =============================================================================
# checkpoint bodies
# =============================================================================


def test_checkpoint_body_format() -> None:
    cp = Checkpoint(ORIGIN, 20852163, ROOT)
    assert cp.body() == f"{ORIGIN}\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    with_ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    assert with_ext.body() == f"{ORIGIN}\n0\n{base64.b64encode(ROOT).decode()}\next one\next two\n"


def test_checkpoint_spec_example_parses() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse_body(body)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.body() == body


@pytest.mark.parametrize("size", [0, 1, 9, 10, 255, 2**53, 2**64 - 1])
@pytest.mark.parametrize("extensions", [(), ("a",), ("x y", "z")])
def test_checkpoint_body_round_trip(size: int, extensions: tuple[str, ...]) -> None:
    cp = Checkpoint(ORIGIN, size, ROOT, extensions)
    assert Checkpoint.parse_body(cp.body()) == cp


def _body(origin: str = ORIGIN, size: str = "5", root: str | None = None, rest: str = "") -> str:
    root = base64.b64encode(ROOT).decode() if root is None else root
    return f"{origin}\n{size}\n{root}\n{rest}"


BAD_BODIES = {
    "leading zero": _body(size="05"),
    "leading zeros on zero": _body(size="00"),
    "plus sign": _body(size="+5"),
    "negative": _body(size="-5"),
    "space before size": _body(size=" 5"),
    "space after size": _body(size="5 "),
    "hex size": _body(size="0x5"),
    "empty size": _body(size=""),
    "unicode digit": _body(size="\u0665"),
    "bad base64": _body(root="not*base64*at*all*" + "A" * 26),
    "unpadded root": _body(root=base64.b64encode(ROOT).decode().rstrip("=")),
    "31-byte root": _body(root=base64.b64encode(ROOT[:31]).decode()),
    "33-byte root": _body(root=base64.b64encode(ROOT + b"x").decode()),
    "empty root": _body(root=""),
    "hex root": _body(root=ROOT.hex()),
    "empty origin": _body(origin=""),
    "missing root line": f"{ORIGIN}\n5\n",
    "missing size and root": f"{ORIGIN}\n",
    "empty": "",
    "no final newline": _body().rstrip("\n"),
    "crlf": _body().replace("\n", "\r\n"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_checkpoint_strict_parsing(body: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse_body(body)


@pytest.mark.parametrize("rest", ["\n", "ext\n\n", "\next\n"])
def test_checkpoint_empty_extension_line_is_refused(rest: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse_body(_body(rest=rest))


# =============================================================================
# signed checkpoints
# =============================================================================


def test_sign_and_open_checkpoint(signer: Signer) -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    note = cp.sign(signer)
    assert note.startswith(cp.body() + "\n\u2014 " + ORIGIN + " ")
    assert open_checkpoint(note, signer.verifier) == cp
    assert open_checkpoint(note, signer.verifier, ORIGIN) == cp


def test_open_checkpoint_refusals(signer: Signer) -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    note = cp.sign(signer)
    with pytest.raises(CheckpointError):
        open_checkpoint(note, signer.verifier, "example.com/other-log")
    with pytest.raises(CheckpointError):
        open_checkpoint(note, _signer(ORIGIN, 2).verifier)
    with pytest.raises(CheckpointError):
        open_checkpoint(note.replace("\n42\n", "\n43\n"), signer.verifier)
    other_root = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(CheckpointError):
        open_checkpoint(note.replace(base64.b64encode(ROOT).decode(), other_root), signer.verifier)
    # A validly signed note whose text is not a checkpoint.
    with pytest.raises(CheckpointError):
        open_checkpoint(sign_note("just a note\n", signer), signer.verifier)


# =============================================================================
# tlog-proof
# =============================================================================


LEAVES = [f"entry {i}".encode() for i in range(37)]


@pytest.fixture(scope="module")
def logged(signer: Signer) -> tuple[MemoryTree, str]:
    tree = MemoryTree(hash_leaf(x) for x in LEAVES)
    note = Checkpoint(ORIGIN, tree.size, tree.root()).sign(signer)
    return tree, note


@pytest.mark.parametrize("index", [0, 1, 17, 31, 32, 36])
def test_tlog_proof_round_trip(logged: tuple[MemoryTree, str], signer: Signer, index: int) -> None:
    tree, note = logged
    proof = tree.inclusion_proof(index)
    text = format_tlog_proof(index, proof, note)
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == f"index {index}"
    assert lines[2 : 2 + len(proof)] == [base64.b64encode(h).decode() for h in proof]
    assert lines[2 + len(proof)] == ""
    assert text.endswith("\n\n" + note)

    parsed = TlogProof.parse(text)
    assert parsed.index == index
    assert parsed.audit_path == proof
    assert parsed.checkpoint_note == note
    assert parsed.extra is None
    cp = parsed.verify(hash_leaf(LEAVES[index]), signer.verifier, ORIGIN)
    assert (cp.size, cp.root) == (tree.size, tree.root())


def test_tlog_proof_with_extra_line(logged: tuple[MemoryTree, str], signer: Signer) -> None:
    tree, note = logged
    text = format_tlog_proof(5, tree.inclusion_proof(5), note)
    extra = base64.b64encode(b"opaque").decode()
    text = text.replace("\nindex 5\n", f"\nextra {extra}\nindex 5\n", 1)
    parsed = TlogProof.parse(text)
    assert parsed.extra == b"opaque"
    parsed.verify(hash_leaf(LEAVES[5]), signer.verifier)


def test_tlog_proof_for_single_leaf_tree(signer: Signer) -> None:
    tree = MemoryTree([hash_leaf(b"only")])
    note = Checkpoint(ORIGIN, 1, tree.root()).sign(signer)
    text = format_tlog_proof(0, tree.inclusion_proof(0), note)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 0\n\n")
    TlogProof.parse(text).verify(hash_leaf(b"only"), signer.verifier)


def test_tlog_proof_tampering_is_refused(logged: tuple[MemoryTree, str], signer: Signer) -> None:
    tree, note = logged
    index = 13
    proof = tree.inclusion_proof(index)
    leaf = hash_leaf(LEAVES[index])
    text = format_tlog_proof(index, proof, note)
    TlogProof.parse(text).verify(leaf, signer.verifier)

    for k, h in enumerate(proof):
        flipped = bytes([h[0] ^ 0x80]) + h[1:]
        bad = text.replace(base64.b64encode(h).decode(), base64.b64encode(flipped).decode(), 1)
        assert bad != text, k
        with pytest.raises(CheckpointError):
            TlogProof.parse(bad).verify(leaf, signer.verifier)
    # Wrong index (same path), wrong leaf, wrong key, wrong origin.
    for other in (index - 1, index + 1, 0, 36, 37, 10**6):
        bad = text.replace(f"\nindex {index}\n", f"\nindex {other}\n", 1)
        with pytest.raises(CheckpointError):
            TlogProof.parse(bad).verify(leaf, signer.verifier)
    with pytest.raises(CheckpointError):
        TlogProof.parse(text).verify(hash_leaf(LEAVES[index + 1]), signer.verifier)
    with pytest.raises(CheckpointError):
        TlogProof.parse(text).verify(leaf, _signer(ORIGIN, 2).verifier)
    with pytest.raises(CheckpointError):
        TlogProof.parse(text).verify(leaf, signer.verifier, "example.com/other")
    # Dropped and duplicated hash lines.
    lines = text.split("\n")
    with pytest.raises(CheckpointError):
        TlogProof.parse("\n".join(lines[:2] + lines[3:])).verify(leaf, signer.verifier)
    with pytest.raises(CheckpointError):
        TlogProof.parse("\n".join(lines[:3] + lines[2:])).verify(leaf, signer.verifier)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
        lambda t: t.split("\n", 1)[1],  # no header
        lambda t: t.replace("\nindex 13\n", "\nindex 013\n"),
        lambda t: t.replace("\nindex 13\n", "\nindex -13\n"),
        lambda t: t.replace("\nindex 13\n", "\nindex  13\n"),
        lambda t: t.replace("\nindex 13\n", "\n"),  # no index line
        lambda t: t.replace("\nindex 13\n", "\nextra !!\nindex 13\n"),
        lambda t: t.replace("\n\n", "\n", 1),  # no blank line before the checkpoint
        lambda t: t.split("\n\n", 1)[0],  # no checkpoint at all
    ],
)
def test_malformed_tlog_proofs_are_refused(
    logged: tuple[MemoryTree, str], signer: Signer, mutate: Callable[[str], str]
) -> None:
    tree, note = logged
    text = format_tlog_proof(13, tree.inclusion_proof(13), note)
    bad = mutate(text)
    assert bad != text
    with pytest.raises(CheckpointError):
        TlogProof.parse(bad).verify(hash_leaf(LEAVES[13]), signer.verifier)


# =============================================================================
# tlog-tiles
# =============================================================================


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (1000000, "x001/x000/000"),
        (2**64 - 1, "x018/x446/x744/x073/x709/x551/615"),
    ],
)
def test_encode_index(index: int, encoded: str) -> None:
    assert encode_index(index) == encoded


def test_tile_path_examples() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 1234067, 256) == "tile/1/x001/x234/067"
    assert tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tile_path("entries", 1234067, 1) == "tile/entries/x001/x234/067.p/1"
    assert tile_path(63, 0, 255) == "tile/63/000.p/255"


@pytest.mark.parametrize("level", range(64))
def test_tile_paths_round_trip_at_every_level(level: int) -> None:
    for index in (0, 7, 999, 1000, 1234067, 2**40 + 3):
        for width in (1, 17, 255, 256):
            path = tile_path(level, index, width)
            address = parse_tile_path(path.removeprefix("tile/"))
            assert (address.level, address.index, address.width) == (level, index, width)
            assert not address.is_entries


def test_entry_bundle_paths_round_trip() -> None:
    address = parse_tile_path("entries/x001/x234/067.p/112")
    assert (address.level, address.index, address.width) == (-1, 1234067, 112)
    assert address.is_entries
    full = parse_tile_path("entries/005")
    assert (full.index, full.width) == (5, 256)


@pytest.mark.parametrize(
    "path",
    [
        "64/000",  # level above 63
        "99/000",
        "100/000",
        "00/000",  # leading zero level
        "01/000",
        "-1/000",
        "/000",
        "0/",
        "0",
        "0/1234",  # not 3 digits
        "0/12",
        "0/0001",
        "0/x1/000",
        "0/x001",  # last element must not carry x
        "0/x001/x234",
        "0/001/234",  # non-last element must carry x
        "0/X001/234",
        "0/abc",
        "0/001.p/0",  # width 1..255
        "0/001.p/256",
        "0/001.p/1000",
        "0/001.p/007",  # no leading zeros
        "0/001.p/",
        "0/001.p",
        "0/001.P/5",
        "0/001/",
        "tile/0/001",  # only the part after tile/
        "entry/001",
        "entries/",
        " 0/001",
        "0/001\n",
        "0/\u0661\u0662\u0663",  # non-ASCII digits
    ],
)
def test_invalid_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    ("size", "level", "width"),
    [
        (70000, 0, 112),
        (70000, 1, 17),
        (70000, 2, 1),
        (70000, 3, 0),
        (256, 0, 0),
        (256, 1, 1),
        (255, 0, 255),
        (0, 0, 0),
        (65536, 0, 0),
        (65536, 1, 0),
        (65536, 2, 1),
    ],
)
def test_partial_width_spec_examples(size: int, level: int, width: int) -> None:
    assert partial_width(size, level) == width


def test_tiles_for_size_spec_example() -> None:
    # "273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1
    # tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1"
    assert tiles_for_size(70000, 0) == (273, 112)
    assert tiles_for_size(70000, 1) == (1, 17)
    assert tiles_for_size(70000, 2) == (0, 1)
    assert tiles_for_size(70000, 3) == (0, 0)


def _leaf_hashes(n: int) -> list[bytes]:
    return [hash_leaf(i.to_bytes(4, "big")) for i in range(n)]


def test_full_tile_root_equals_merkle_root() -> None:
    hashes = _leaf_hashes(256)
    tile = TileTree(b"".join(hashes))
    assert tile.width == 256
    assert tile.root == root_from_leaf_hashes(hashes)
    assert tile.root == MemoryTree(hashes).root()


@pytest.mark.parametrize("width", [1, 2, 3, 17, 128, 200, 255])
def test_partial_tile_nodes(width: int) -> None:
    hashes = _leaf_hashes(width)
    tile = TileTree(b"".join(hashes))
    tree = MemoryTree(hashes)
    assert tile.width == width
    for sublevel in range(9):
        for position in range(256 >> sublevel):
            present = (position + 1) << sublevel <= width
            assert tile.has_node(sublevel, position) == present
            if present:
                assert tile.node(sublevel, position) == tree.read_nodes([(sublevel, position)])[0]


def test_tiles_reproduce_every_merkle_node_across_levels() -> None:
    # 257 full level-0 tiles, one full level-1 tile, so nodes up to height 16 exist.
    size = 256 * 256 + 300
    leaf_hashes = _leaf_hashes(size)
    tree = MemoryTree(leaf_hashes)

    def tile_hashes(tile_level: int, tile_index: int) -> bytes:
        # Spec: tile n at level l holds MTH(D[(n*256+i)*256**l : (n*256+i+1)*256**l]);
        # above level 0 each hash is the root of a *full* tile at the level below.
        if tile_level == 0:
            return b"".join(leaf_hashes[tile_index * 256 : (tile_index + 1) * 256])
        out = []
        for i in range(256):
            below = tile_hashes(tile_level - 1, tile_index * 256 + i)
            if len(below) < 256 * 32:
                break
            out.append(TileTree(below).root)
        return b"".join(out)

    level1 = tile_hashes(1, 0)
    assert len(level1) == 256 * 32
    for i in (0, 1, 255):
        assert level1[i * 32 : (i + 1) * 32] == root_from_leaf_hashes(
            leaf_hashes[i * 256 : (i + 1) * 256]
        )

    cache: dict[tuple[int, int], TileTree] = {}
    nodes = [(0, 0), (0, size - 1), (3, 17), (7, 300), (8, 0), (8, 256), (9, 127), (15, 1), (16, 0)]
    nodes += [(lvl, ((size >> lvl) - 1)) for lvl in range(17)]  # right edge at every height
    for level, index in nodes:
        assert (index + 1) << level <= size
        tile_level, tile_index, sublevel, position = node_location(level, index)
        assert tile_level == level // 8 and sublevel == level % 8
        key = (tile_level, tile_index)
        if key not in cache:
            cache[key] = TileTree(tile_hashes(tile_level, tile_index))
        tile = cache[key]
        assert tile.has_node(sublevel, position), (level, index)
        assert tile.node(sublevel, position) == tree.read_nodes([(level, index)])[0], (level, index)


# =============================================================================
# envelopes
# =============================================================================

PREV = hashlib.sha256(b"prev").digest()
SALT = bytes(range(16))
PAYLOAD_JSON = b'{"score":80}'
PAYLOAD = hashlib.sha256(SALT + PAYLOAD_JSON).digest()  # the payload hash of PAYLOAD_JSON
TIME = "2026-11-22T10:00:00.000Z"


@dataclass(frozen=True)
class _Item:
    """The fields encode_chain reads, as a NewEntry carries them."""

    kind: str
    subject: str
    actor: str
    payload: bytes
    time: str | None = None

    @property
    def subject_json(self) -> bytes:
        return json_label(self.subject)

    @property
    def actor_json(self) -> bytes:
        return json_label(self.actor)


def _envelope(
    *,
    index: int = 5,
    prev: bytes = PREV,
    kind: str = "credit.score_changed",
    subject: str = "91350100M000100Y43",
    time: str = TIME,
    actor: str = "inspector 张三",
    salt: bytes = SALT,
    payload: bytes = PAYLOAD_JSON,
) -> bytes:
    """One envelope, written by the sequencer's own encoder."""
    envelopes, _ = encode_chain([_Item(kind, subject, actor, payload)], index, prev, salt, time)
    return envelopes[0]


def _as_dict(
    index: int, prev: bytes, kind: str, subject: str, time: str, actor: str, payload_hash: bytes
) -> dict[str, Any]:
    return {
        "v": 1,
        "index": index,
        "prev": base64.b64encode(prev).decode(),
        "kind": kind,
        "subject": subject,
        "time": time,
        "actor": actor,
        "payload_hash": base64.b64encode(payload_hash).decode(),
    }


labels = st.text(st.characters(exclude_categories=NO_SURROGATES), min_size=1, max_size=30)
kinds = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,3}", fullmatch=True)
moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, 2**53 - 1),
    prev=st.binary(min_size=32, max_size=32),
    kind=kinds,
    subject=labels,
    moment=moments,
    actor=labels,
    salt=st.binary(min_size=16, max_size=16),
    payload=st.binary(max_size=64),
)
def test_envelope_is_rfc8785_and_round_trips(
    index: int,
    prev: bytes,
    kind: str,
    subject: str,
    moment: datetime,
    actor: str,
    salt: bytes,
    payload: bytes,
) -> None:
    time = format_time(moment)
    envelope = _envelope(
        index=index,
        prev=prev,
        kind=kind,
        subject=subject,
        time=time,
        actor=actor,
        salt=salt,
        payload=payload,
    )
    payload_hash = hashlib.sha256(salt + payload).digest()
    expected = _as_dict(index, prev, kind, subject, time, actor, payload_hash)
    assert envelope == rfc8785.dumps(expected)
    parsed = parse_envelope(envelope)
    assert (parsed.index, parsed.prev, parsed.kind, parsed.subject) == (index, prev, kind, subject)
    assert (parsed.time, parsed.actor, parsed.payload_hash) == (time, actor, payload_hash)
    assert parsed.as_json() == expected
    assert rfc8785.dumps(parsed.as_json()) == envelope


def test_envelope_exact_bytes() -> None:
    envelope = _envelope(index=0, prev=bytes(32), subject='s\x01"', actor="a")
    assert envelope == (
        b'{"actor":"a","index":0,"kind":"credit.score_changed","payload_hash":"'
        + base64.b64encode(PAYLOAD)
        + b'","prev":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","subject":"s\\u0001\\"",'
        + b'"time":"2026-11-22T10:00:00.000Z","v":1}'
    )


def _noncanonical(b64: bytes) -> bytes:
    """The same 32 bytes in base64 with a padding bit set: decodable, but not canonical."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(b64[-2]) | 1]
    return b64[:-2] + bytes([last]) + b"="


def _swap(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the one occurrence of ``old``; fail loudly if the fixture does not contain it."""
    assert data.count(old) == 1, (old, data)
    return data.replace(old, new)


def _reordered() -> bytes:
    good = _envelope()
    head, rest = good.split(b',"index":', 1)
    return b'{"index":' + rest[:-1] + b"," + head[1:] + b"}"


NON_CANONICAL: dict[str, Callable[[bytes], bytes]] = {
    "space after colon": lambda e: e.replace(b'"index":', b'"index": ', 1),
    "space after comma": lambda e: e.replace(b',"kind"', b', "kind"', 1),
    "leading space": lambda e: b" " + e,
    "trailing newline": lambda e: e + b"\n",
    "reordered keys": lambda e: _reordered(),
    "v 2": lambda e: e.replace(b'"v":1}', b'"v":2}'),
    "v 1.0": lambda e: e.replace(b'"v":1}', b'"v":1.0}'),
    "v string": lambda e: e.replace(b'"v":1}', b'"v":"1"}'),
    "extra field": lambda e: e.replace(b'"v":1}', b'"v":1,"x":1}'),
    "missing field": lambda e: e.replace(b'"subject":"91350100M000100Y43",', b""),
    "missing v": lambda e: e.replace(b',"v":1}', b"}"),
    "duplicate field": lambda e: e.replace(b'"v":1}', b'"v":1,"v":1}'),
    "index leading zero": lambda e: e.replace(b'"index":5,', b'"index":05,'),
    "index float": lambda e: e.replace(b'"index":5,', b'"index":5.0,'),
    "index exponent": lambda e: e.replace(b'"index":5,', b'"index":5e0,'),
    "index negative": lambda e: e.replace(b'"index":5,', b'"index":-5,'),
    "uppercase kind": lambda e: e.replace(b"credit.score_changed", b"Credit.score_changed"),
    "kind without dot": lambda e: e.replace(b"credit.score_changed", b"credit"),
    "time without millis": lambda e: e.replace(TIME.encode(), b"2026-11-22T10:00:00Z"),
    "time with offset": lambda e: e.replace(TIME.encode(), b"2026-11-22T18:00:00.000+08:00"),
    "prev short": lambda e: e.replace(base64.b64encode(PREV), base64.b64encode(PREV[:31])),
    "prev unpadded": lambda e: e.replace(
        base64.b64encode(PREV), base64.b64encode(PREV).rstrip(b"=")
    ),
    "prev urlsafe": lambda e: e.replace(
        base64.b64encode(PREV), base64.urlsafe_b64encode(b"\xff" * 32)
    ),
}

CONTROL_SUBJECT = _envelope(subject="a\x1fb")
ESCAPED = {
    "uppercase \\u00XX escape": _swap(CONTROL_SUBJECT, b"\\u001f", b"\\u001F"),
    "unescaped control char": _swap(CONTROL_SUBJECT, b"\\u001f", b"\x1f"),
    "long form of a short escape": _swap(_envelope(subject="a\nb"), b"\\n", b"\\u000a"),
    "escaped slash": _swap(_envelope(subject="a/b"), b"a/b", b"a\\/b"),
    "needless unicode escape": _swap(_envelope(subject="aAb"), b"aAb", b"a\\u0041b"),
    "escaped non-ascii": _swap(_envelope(actor="é"), "é".encode(), b"\\u00e9"),
    "unescaped quote": _swap(_envelope(subject='a"b'), b'a\\"b', b'a"b'),
    "raw tab": _swap(_envelope(subject="a\tb"), b"\\t", b"\t"),
    "raw DEL escaped": _swap(_envelope(subject="a\x7fb"), b"\x7f", b"\\u007f"),
}


@pytest.mark.parametrize("name", NON_CANONICAL.keys())
def test_parse_envelope_refuses_non_canonical_structure(name: str) -> None:
    good = _envelope()
    bad = NON_CANONICAL[name](good)
    assert bad != good
    with pytest.raises(EnvelopeError):
        parse_envelope(bad)


@pytest.mark.parametrize("name", ESCAPED.keys())
def test_parse_envelope_refuses_non_canonical_strings(name: str) -> None:
    bad = ESCAPED[name]
    with pytest.raises(EnvelopeError):
        parse_envelope(bad)


def test_parse_envelope_accepts_canonical_escapes() -> None:
    for subject in ["a\x1fb", "a\nb", 'a"b\\', "\x00\x08\x0b\x7f", "€\U0001f600"]:
        parsed = parse_envelope(_envelope(subject=subject))
        assert parsed.subject == subject


@pytest.mark.parametrize(
    "bad",
    [
        _swap(_envelope(prev=bytes(32)), b"AAAAAAAAAAA=", b"AAAAAAAAAAB="),
        _swap(_envelope(), base64.b64encode(PAYLOAD), _noncanonical(base64.b64encode(PAYLOAD))),
        _envelope(index=2**53),
        _envelope(index=9999999999999999),
    ],
    ids=["prev pad bits", "payload_hash pad bits", "index 2^53", "index 16 nines"],
)
def test_parse_envelope_refuses_non_canonical_values(bad: bytes) -> None:
    with pytest.raises(EnvelopeError):
        parse_envelope(bad)


@pytest.mark.parametrize(
    "raw", [b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"], ids=["ff", "surrogate", "overlong"]
)
def test_parse_envelope_refuses_invalid_utf8(raw: bytes) -> None:
    bad = _swap(_envelope(subject="x"), b'"subject":"x"', b'"subject":"' + raw + b'"')
    with pytest.raises(EnvelopeError):
        parse_envelope(bad)


def test_encode_chain_links_each_envelope_to_the_one_before() -> None:
    items = [
        _Item("credit.score_changed", "s1", "a", b'{"n":1}'),
        _Item("credit.score_changed", "s2", "b", b'{"n":2}', time="2020-01-01T00:00:00.000Z"),
        _Item("entry.redacted", "entry:0", "c", b'{"index":0}'),
    ]
    salts = bytes(range(48))
    envelopes, leaf_hashes = encode_chain(items, 7, PREV, salts, TIME)
    assert leaf_hashes == [hash_leaf(e) for e in envelopes]
    previous = PREV
    for position, (item, envelope) in enumerate(zip(items, envelopes, strict=True)):
        parsed = parse_envelope(envelope)
        assert parsed.index == 7 + position and parsed.prev == previous
        assert (parsed.kind, parsed.subject, parsed.actor) == (item.kind, item.subject, item.actor)
        assert parsed.time == (item.time or TIME)
        salt = salts[16 * position : 16 * (position + 1)]
        assert base64.b64encode(parsed.payload_hash) == payload_commitment(salt, item.payload)
        previous = leaf_hashes[position]
    assert encode_chain([], 0, PREV, b"", TIME) == ([], [])


def test_the_verifier_accepts_what_encode_chain_writes() -> None:
    items = [_Item("credit.score_changed", f"s{n}", "a", b'{"n":%d}' % n) for n in range(300)]
    salts = bytes(16 * len(items))
    envelopes, leaf_hashes = encode_chain(items, 0, ZERO_HASH, salts, TIME)
    rows = [
        (i, e, salts[16 * i : 16 * (i + 1)], item.payload)
        for i, (e, item) in enumerate(zip(envelopes, items, strict=True))
    ]
    checker = EntryVerifier(Signer.generate(ORIGIN).verifier, ORIGIN)
    checker.add(rows)
    assert checker.size == 300 and checker.builder.root() == root_from_leaf_hashes(leaf_hashes)


def test_encode_chain_needs_one_salt_per_entry() -> None:
    item = _Item("credit.score_changed", "s", "a", b"{}")
    with pytest.raises(InvalidInput, match="16 bytes of salt"):
        encode_chain([item], 0, PREV, bytes(15), TIME)


def test_json_label_and_payload_commitment() -> None:
    for text in ["plain", "张三", 'q"\\', "\x00\x1f", "\U0001f600"]:
        assert json_label(text) == rfc8785.dumps(text)
    salt, payload = b"s" * 16, b'{"a":1}'
    assert payload_commitment(salt, payload) == base64.b64encode(
        hashlib.sha256(salt + payload).digest()
    )


# --- time and kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-22T10:00:00.000Z",
        "2024-02-29T23:59:59.999Z",
        "0001-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ],
)
def test_check_time_accepts(value: str) -> None:
    assert check_time(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-22T10:00:00Z",  # no millis
        "2026-11-22T10:00:00.0Z",
        "2026-11-22T10:00:00.000000Z",
        "2026-11-22T10:00:00.000+08:00",  # offset
        "2026-11-22T10:00:00.000+00:00",
        "2026-11-22T10:00:00.000",  # no zone
        "2026-11-22T10:00:00.000z",
        "2026-11-22t10:00:00.000Z",
        "2026-11-22 10:00:00.000Z",
        "2026-02-30T10:00:00.000Z",  # Feb 30
        "2026-02-29T10:00:00.000Z",  # not a leap year
        "2026-13-01T10:00:00.000Z",
        "2026-00-01T10:00:00.000Z",
        "2026-11-00T10:00:00.000Z",
        "2026-11-22T24:00:00.000Z",
        "2026-11-22T10:60:00.000Z",
        "2026-11-22T10:00:60.000Z",  # no leap seconds
        "2026-11-22",
        "26-11-22T10:00:00.000Z",
        "2026-11-22T10:00:00.000Z\n",
        " 2026-11-22T10:00:00.000Z",
        "",
    ],
)
def test_check_time_refuses(value: str) -> None:
    with pytest.raises(EnvelopeError):
        check_time(value)


@pytest.mark.parametrize(
    "value",
    [
        "\uff12\uff10\uff12\uff16-11-22T10:00:00.000Z",
        "\u0662\u0660\u0662\u0666-11-22T10:00:00.000Z",
    ],
    ids=["fullwidth", "arabic-indic"],
)
def test_check_time_refuses_non_ascii_digits(value: str) -> None:
    with pytest.raises(EnvelopeError):
        check_time(value)


def test_format_time_pads_small_years() -> None:
    assert format_time(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000Z"


def test_format_time() -> None:
    east8 = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 22, 18, 0, 0, 123999, tzinfo=east8)
    assert format_time(moment) == "2026-11-22T10:00:00.123Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    assert check_time(format_time(moment)) == "2026-11-22T10:00:00.123Z"


@pytest.mark.parametrize("kind", ["credit.score", "a.b", "credit.score_changed", "x1.y_2.z3"])
def test_check_kind_accepts(kind: str) -> None:
    assert check_kind(kind) == kind


@pytest.mark.parametrize(
    "kind",
    [
        "credit",
        "Credit.score",
        "credit.Score",
        ".a",
        "a.",
        "a..b",
        "1a.b",
        "a.1b",
        "a.-b",
        "a.b\n",
        "a.b c",
        "",
    ],
)
def test_check_kind_refuses(kind: str) -> None:
    with pytest.raises(EnvelopeError):
        check_kind(kind)
