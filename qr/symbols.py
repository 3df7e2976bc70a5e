"""QR symbols, fast: laid out here from the ``qrcode`` package's tables.

``qrcode`` chooses the mask by drawing the whole symbol eight times in Python, which is
nearly all of its time. Here the layout of a version (its function patterns, format and
version information for each mask, and the order in which data modules are filled) is
worked out once and cached. A symbol is then its codewords (byte mode, Reed-Solomon
per ISO/IEC 18004 §7.5, interleaved), placed into the matrix by one C-level
``itemgetter``, masked by integer operations, and each mask's penalty (§7.8.3: runs,
2×2 blocks, finder-like patterns, dark balance) scored on the matrix as an integer. The
result is module for module the symbol ``qrcode`` draws for that mask, with the same
penalty (a test compares both); the mask of lowest penalty is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

import qrcode
import qrcode.base
import qrcode.util

# A finder-like pattern with four light modules before or after, read left to right.
_FINDER_LIKE = ("10111010000", "00001011101")
_FINDER_WIDTH = 11
_N2, _N3, _N4 = 3, 40, 10  # rule 1 (N1 = 3) is scored in _runs


@dataclass(frozen=True)
class Layout:
    """Where things go in a symbol of one version and error-correction level.

    A matrix is handled as one integer, row by row (``rows``) or column by column
    (``columns``), its first cell the most significant bit. Masking is then three
    integer operations: the placed data XOR the mask's data cells, OR the function
    patterns with that mask's format information.
    """

    size: int  # modules per side, without the quiet zone
    data_bits: int  # data modules, in placement order
    # Picks every cell from (data bits + "0"): the data bit placed there, or 0.
    place_rows: Any
    place_columns: Any
    mask_rows: tuple[int, ...]  # per mask: its dark data cells
    mask_columns: tuple[int, ...]
    pattern_rows: tuple[int, ...]  # per mask: function patterns and format information
    pattern_columns: tuple[int, ...]
    # The cells that have a left neighbour, those that have one above, and those that
    # end a window of _FINDER_WIDTH cells within their line (the same, transposed).
    has_left: int
    has_above: int
    ends_window: int


def _modules(version: int, level: int, mask: int) -> list[list[bool | None]]:
    code = qrcode.QRCode(version=version, error_correction=level, border=0)
    n = code.modules_count = version * 4 + 17
    code.modules = [[None] * n for _ in range(n)]
    code.setup_position_probe_pattern(0, 0)
    code.setup_position_probe_pattern(n - 7, 0)
    code.setup_position_probe_pattern(0, n - 7)
    code.setup_position_adjust_pattern()
    code.setup_timing_pattern()
    code.setup_type_info(False, mask)
    if version >= 7:
        code.setup_type_number(False)
    modules: list[list[bool | None]] = code.modules
    return modules


def _placement(modules: list[list[bool | None]]) -> list[tuple[int, int]]:
    """The data cells in the order ISO/IEC 18004 §7.7.3 fills them (qrcode's map_data)."""
    n = len(modules)
    order = []
    row, step = n - 1, -1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1  # noqa: PLW2901 - the vertical timing pattern is skipped
        while True:
            for c in (col, col - 1):
                if modules[row][c] is None:
                    order.append((row, c))
            row += step
            if row < 0 or row >= n:
                row -= step
                step = -step
                break
    return order


def _cells(n: int, keep: Any, by_column: bool = False) -> int:
    """An integer with the bit of each cell (r, c) for which ``keep(r, c)``."""
    if by_column:
        return int("".join("1" if keep(r, c) else "0" for c in range(n) for r in range(n)), 2)
    return int("".join("1" if keep(r, c) else "0" for r in range(n) for c in range(n)), 2)


@lru_cache(maxsize=64)
def layout(version: int, level: int) -> Layout:
    grids = [_modules(version, level, mask) for mask in range(8)]
    n = len(grids[0])
    order = _placement(grids[0])
    bits = len(order)
    data = frozenset(order)
    funcs = [qrcode.util.mask_func(mask) for mask in range(8)]

    def masked(mask: int) -> Any:
        return lambda r, c: (r, c) in data and bool(funcs[mask](r, c))

    def pattern(mask: int) -> Any:
        return lambda r, c: bool(grids[mask][r][c])

    index = {cell: i for i, cell in enumerate(order)}
    rows = [index.get((r, c), bits) for r in range(n) for c in range(n)]
    columns = [index.get((r, c), bits) for c in range(n) for r in range(n)]
    return Layout(
        size=n,
        data_bits=bits,
        place_rows=itemgetter(*rows),
        place_columns=itemgetter(*columns),
        mask_rows=tuple(_cells(n, masked(m)) for m in range(8)),
        mask_columns=tuple(_cells(n, masked(m), by_column=True) for m in range(8)),
        pattern_rows=tuple(_cells(n, pattern(m)) for m in range(8)),
        pattern_columns=tuple(_cells(n, pattern(m), by_column=True) for m in range(8)),
        has_left=_cells(n, lambda r, c: c > 0),
        has_above=_cells(n, lambda r, c: r > 0),
        ends_window=_cells(n, lambda r, c: c >= _FINDER_WIDTH - 1),
    )


def _runs(value: int, has_left: int) -> int:
    """Rule 1 over every line at once: a run of L >= 5 alike modules scores 3 + (L - 5)."""
    same = ~(value ^ (value >> 1)) & has_left  # a cell alike its left neighbour
    five = same & (same >> 1) & (same >> 2) & (same >> 3)  # ending five alike cells
    # A run of L holds L - 4 bits of ``five`` in one stretch: L - 2 = those + 2.
    return five.bit_count() + 2 * (five & ~(five >> 1)).bit_count()


def _finder_like(value: int, ends_window: int) -> int:
    """Rule 3: windows along the lines that read as a finder-like pattern."""
    shifted = [value >> k for k in range(_FINDER_WIDTH)]  # cell i - k at cell i
    found = 0
    for pattern in _FINDER_LIKE:
        match = ends_window
        for k, bit in enumerate(reversed(pattern)):
            match &= shifted[k] if bit == "1" else ~shifted[k]
        found += match.bit_count()
    return found


def _penalty(by_row: int, by_column: int, plan: Layout) -> int:
    """ISO/IEC 18004 §7.8.3.1 penalty of a matrix, given row-major and column-major."""
    score = _runs(by_row, plan.has_left) + _runs(by_column, plan.has_left)
    same_right = ~(by_row ^ (by_row >> 1)) & plan.has_left
    same_down = ~(by_row ^ (by_row >> plan.size)) & plan.has_above
    score += _N2 * (same_down & (same_down >> 1) & same_right).bit_count()
    finders = _finder_like(by_row, plan.ends_window) + _finder_like(by_column, plan.ends_window)
    score += _N3 * finders
    dark = by_row.bit_count() * 100 // (plan.size * plan.size)
    return score + _N4 * (abs(dark - 50) // 5)


@dataclass(frozen=True)
class Matrix:
    version: int
    mask: int
    size: int
    rows: list[str]  # '1' dark, without the quiet zone


# GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1, as log and antilog tables.
_EXP = [0] * 512
_LOG = [0] * 256
_value = 1
for _power in range(255):
    _EXP[_power] = _value
    _LOG[_value] = _power
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
for _power in range(255, 512):
    _EXP[_power] = _EXP[_power - 255]


@lru_cache(maxsize=64)
def _generator_table(degree: int) -> tuple[int, ...]:
    """For each factor, the generator polynomial prod(x - a^i), i < degree, times it,
    without its leading term, as one integer of ``degree`` bytes."""
    poly = [1]
    for i in range(degree):
        nxt = [0] * (len(poly) + 1)
        for j, coefficient in enumerate(poly):
            nxt[j] ^= coefficient
            if coefficient:
                nxt[j + 1] ^= _EXP[_LOG[coefficient] + i]
        poly = nxt
    logs = [_LOG[c] for c in poly[1:]]
    table = [0]
    for factor in range(1, 256):
        scaled = bytes(_EXP[_LOG[factor] + g] for g in logs)
        table.append(int.from_bytes(scaled, "big"))
    return tuple(table)


def _ec_codewords(data: bytes, degree: int) -> bytes:
    """The Reed-Solomon remainder of one block (ISO/IEC 18004 §7.5.2), as a shift register
    held in one integer."""
    table = _generator_table(degree)
    top = 8 * (degree - 1)
    mask = (1 << (8 * degree)) - 1
    remainder = 0
    for byte in data:
        factor = (remainder >> top) ^ byte
        remainder = ((remainder << 8) & mask) ^ table[factor]
    return remainder.to_bytes(degree, "big")


@lru_cache(maxsize=256)
def _blocks(version: int, level: int) -> tuple[tuple[int, int], ...]:
    """(data codewords, error-correction codewords) of each block."""
    return tuple(
        (b.data_count, b.total_count - b.data_count) for b in qrcode.base.rs_blocks(version, level)
    )


def _fits(length: int, version: int, level: int) -> bool:
    count_bits = 8 if version <= 9 else 16
    capacity = 8 * sum(data for data, _ in _blocks(version, level))
    return 4 + count_bits + 8 * length <= capacity and length < (1 << count_bits)


def data_codewords(text: str, level: int) -> tuple[int, bytes]:
    """The smallest version holding ``text`` as one byte-mode segment, and every codeword
    (data and error correction, interleaved) in the order they are placed."""
    raw = text.encode("utf-8")
    version = next((v for v in range(1, 41) if _fits(len(raw), v, level)), None)
    if version is None:
        raise ValueError(f"{len(raw)} bytes do not fit in any QR version")
    blocks = _blocks(version, level)
    capacity = sum(data for data, _ in blocks)
    count_bits = 8 if version <= 9 else 16
    bits = "0100" + format(len(raw), f"0{count_bits}b")
    if raw:
        bits += format(int.from_bytes(raw, "big"), f"0{8 * len(raw)}b")
    bits += "0" * min(4, 8 * capacity - len(bits))  # terminator
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    data += bytes((0xEC, 0x11) * capacity)[: capacity - len(data)]
    pieces, ec_pieces, offset = [], [], 0
    for data_count, ec_count in blocks:
        piece = data[offset : offset + data_count]
        offset += data_count
        pieces.append(piece)
        ec_pieces.append(_ec_codewords(piece, ec_count))
    out = bytearray()
    for i in range(max(len(p) for p in pieces)):
        out.extend(p[i] for p in pieces if i < len(p))
    for i in range(max(len(e) for e in ec_pieces)):
        out.extend(e[i] for e in ec_pieces if i < len(e))
    return version, bytes(out)


def matrix(text: str, level: int, mask: int | None = None) -> Matrix:
    """The symbol of ``text``: with ``mask``, or with the mask of lowest penalty."""
    version, codewords = data_codewords(text, level)
    plan = layout(version, level)
    value = int.from_bytes(codewords, "big") << (plan.data_bits - 8 * len(codewords))
    source = format(value, f"0{plan.data_bits}b") + "0"
    placed_rows = int("".join(plan.place_rows(source)), 2)
    best: tuple[int, int, int] | None = None
    if mask is not None:
        best = (0, mask, (placed_rows ^ plan.mask_rows[mask]) | plan.pattern_rows[mask])
    else:
        placed_columns = int("".join(plan.place_columns(source)), 2)
        for candidate in range(8):
            by_row = (placed_rows ^ plan.mask_rows[candidate]) | plan.pattern_rows[candidate]
            by_column = (placed_columns ^ plan.mask_columns[candidate]) | plan.pattern_columns[
                candidate
            ]
            score = _penalty(by_row, by_column, plan)
            if best is None or score < best[0]:
                best = (score, candidate, by_row)
    assert best is not None
    _, chosen, cells = best
    n = plan.size
    text_cells = format(cells, f"0{n * n}b")
    return Matrix(version, chosen, n, [text_cells[i : i + n] for i in range(0, n * n, n)])
