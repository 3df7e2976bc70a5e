"""RFC 9162 §2.1 Merkle tree hashing and proofs as small pure functions.

Proof *shapes* (which subtrees a proof consists of) are computed separately from
proof *values*, so the same code serves an in-memory tree, stored tiles and tests.
A subtree is addressed as a half-open leaf range ``(start, end)``; every range a
proof needs decomposes into perfect, aligned subtrees ``(level, index)`` that a
tile store can answer directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from ledger.errors import InvalidInput

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256

Node = tuple[int, int]
"""A perfect subtree: ``(level, index)`` covers leaves from ``index << level``, 2**level of them."""


class ProofError(InvalidInput):
    """A proof, root or hash did not verify; the message says what was expected and what was got."""


def hash_leaf(leaf_input: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + leaf_input).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` > 1), RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[Node]:
    """Split ``[start, end)`` into perfect subtrees, left to right, largest first.

    ``start`` must be aligned to every piece, which holds for every range the
    RFC 9162 proof recursions produce and for ``[0, size)``.
    """
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        # Alignment: a piece may not cross a boundary of its own size.
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive perfect subtrees listed left to right, largest first."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = _sha256(NODE_PREFIX + h + acc).digest()
    return acc


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[0:n]) of a list of leaf hashes, bottom-up."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level: list[bytes] = list(leaf_hashes)
    carry: list[bytes] = []  # unpaired right-edge nodes, lowest level first
    while len(level) > 1:
        if len(level) % 2:
            carry.append(level.pop())
        level = [
            _sha256(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
    # Unpaired nodes sit on the right edge, lowest first; the tree is the top node
    # followed by them from the highest down, folded right.
    return fold_right([level[0], *reversed(carry)])


# --- proof shapes -------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(index, D[0:size]), leaf sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1)."""
    if not 0 < size1 <= size2:
        raise ProofError(f"consistency needs 0 < first <= second, got first={size1} second={size2}")
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, size2, size1, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    ranges.reverse()
    return ranges


def resolve_ranges(
    ranges: Iterable[tuple[int, int]], read_nodes: Callable[[list[Node]], list[bytes]]
) -> list[bytes]:
    """Hash each range, reading every perfect subtree it needs in one call."""
    shapes = [perfect_nodes(a, b) for a, b in ranges]
    wanted = [node for shape in shapes for node in shape]
    values = read_nodes(wanted)
    out: list[bytes] = []
    pos = 0
    for shape in shapes:
        out.append(fold_right(values[pos : pos + len(shape)]))
        pos += len(shape)
    return out


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    if size == 0:
        raise ProofError("an empty tree includes no leaf")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf_hash)
    fn, sn, r = index, size - 1, leaf_hash
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
        if sn == 0:
            raise ProofError(f"proof is too long: expected {i} hashes, got {len(proof)}")
        if fn & 1 or fn == sn:
            r = _sha256(NODE_PREFIX + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"proof is too short: expected {len(proof) + sn.bit_length()} hashes, got {len(proof)}"
        )
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` puts leaf ``index`` in the tree (``size``, ``root``)."""
    _check_hash("root", root)
    got = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if got != root:
        raise ProofError(f"root mismatch: expected {root.hex()}, computed {got.hex()}")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise ProofError unless the tree (size2, root2) extends (size1, root1)."""
    if size1 > size2:
        raise ProofError(f"first size {size1} is larger than second size {size2}")
    if size1 == 0:
        # Every tree extends the empty tree; such a proof is meaningless and is refused.
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError(f"equal sizes need an empty proof, got {len(proof)} hashes")
        if root1 != root2:
            raise ProofError(f"equal sizes but roots differ: {root1.hex()} != {root2.hex()}")
        return
    if not proof:
        raise ProofError(f"sizes {size1} and {size2} differ but the proof is empty")
    _check_hash("first root", root1)
    _check_hash("second root", root2)
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"proof is too long: {len(proof)} hashes")
        if fn & 1 or fn == sn:
            fr = _sha256(NODE_PREFIX + c + fr).digest()
            sr = _sha256(NODE_PREFIX + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof is too short: {len(proof)} hashes")
    if fr != root1:
        raise ProofError(f"first root mismatch: expected {root1.hex()}, computed {fr.hex()}")
    if sr != root2:
        raise ProofError(f"second root mismatch: expected {root2.hex()}, computed {sr.hex()}")


# --- an in-memory tree, for tests, the verifier and imports -------------------


class MemoryTree:
    """All leaf hashes in memory; answers roots and proofs. Used where a whole log is at hand."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [list(leaf_hashes)]
        self._build()

    def _build(self) -> None:
        level = 0
        while len(self._levels[level]) > 1:
            below = self._levels[level]
            done = len(self._levels[level + 1]) if len(self._levels) > level + 1 else 0
            if len(self._levels) == level + 1:
                self._levels.append([])
            above = self._levels[level + 1]
            for i in range(done * 2, len(below) - 1, 2):
                above.append(_sha256(NODE_PREFIX + below[i] + below[i + 1]).digest())
            level += 1

    def append(self, leaf_hash: bytes) -> None:
        self._levels[0].append(leaf_hash)
        self._build()

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def read_nodes(self, nodes: list[Node]) -> list[bytes]:
        return [self._levels[level][index] for level, index in nodes]

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size == 0:
            return EMPTY_ROOT
        return fold_right(self.read_nodes(perfect_nodes(0, size)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        return resolve_ranges(inclusion_ranges(index, size), self.read_nodes)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size2 = self.size if size2 is None else size2
        return resolve_ranges(consistency_ranges(size1, size2), self.read_nodes)
