"""QR images of code URLs: PNG and SVG, drawn from the symbol ``qr.symbols`` lays out.

The symbol is the smallest QR version that holds the URL at the chosen error-correction
level (M by default), with the standard quiet zone of 4 modules. The PNG is 1-bit
greyscale (what label printers want, and small); the SVG is one path, a line one module
thick per row, crisp at any size. No imaging library is needed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import qrcode.constants

from qr.symbols import matrix

QUIET_ZONE = 4
DEFAULT_MODULE_PX = 8
ERROR_LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Symbol:
    """A QR symbol: its version, error-correction level, mask and modules."""

    version: int
    level: str
    mask: int
    rows: list[str]  # '1' dark, '0' light; the quiet zone included

    @property
    def size(self) -> int:
        return len(self.rows)


def encode(text: str, level: str = "M") -> Symbol:
    """The smallest symbol at ``level`` that holds ``text`` (one byte-mode segment, which
    every scanner reads alike), with the mask of lowest penalty."""
    found = matrix(text, ERROR_LEVELS[level])
    light = "0" * (found.size + 2 * QUIET_ZONE)
    side = "0" * QUIET_ZONE
    rows = [light] * QUIET_ZONE + [side + row + side for row in found.rows] + [light] * QUIET_ZONE
    return Symbol(found.version, level, found.mask, rows)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=16)
def _png_pixels(module_px: int) -> dict[int, str]:
    """Each module as its pixels: greyscale 0 for dark, 1 for light, ``module_px`` wide."""
    return str.maketrans({"1": "0" * module_px, "0": "1" * module_px})


def png(symbol: Symbol, module_px: int = DEFAULT_MODULE_PX) -> bytes:
    """A 1-bit greyscale PNG, ``module_px`` pixels per module."""
    side = symbol.size * module_px
    pad = "1" * (-side % 8)
    lines = []
    for row in symbol.rows:
        bits = row.translate(_png_pixels(module_px)) + pad
        line = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter: none
        lines.append(line * module_px)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(lines), 6))
        + _chunk(b"IEND", b"")
    )


# A row as a stroked line: a dark module draws one unit, a light one moves on one unit.
_SVG_STEPS = str.maketrans({"1": "h1", "0": "m1 0"})


def svg(symbol: Symbol, module_px: int = DEFAULT_MODULE_PX) -> bytes:
    """An SVG of the symbol: a white square and, per row, one line one module thick."""
    n = symbol.size
    side = n * module_px
    lines = "".join(
        f"M0 {y}.5{row.translate(_SVG_STEPS)}" for y, row in enumerate(symbol.rows) if "1" in row
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="none" stroke="#000" stroke-width="1" d="{lines}"/></svg>\n'
    ).encode()
