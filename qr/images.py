"""QR images of code URLs: PNG and SVG, written from the ``qrcode`` package's module matrix.

The symbol is the smallest QR version that holds the URL at the chosen error-correction
level (M by default), with the standard quiet zone of 4 modules. The PNG is 1-bit
greyscale (what label printers want, and small); the SVG one path of unit squares, crisp
at any size. Both are written here from the matrix, so no imaging library is needed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import qrcode
import qrcode.constants

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
    """A QR symbol: its version, error-correction level and modules (quiet zone included)."""

    version: int
    level: str
    modules: list[list[bool]]  # True is dark

    @property
    def size(self) -> int:
        return len(self.modules)


def encode(text: str, level: str = "M") -> Symbol:
    """The smallest symbol at ``level`` that holds ``text``, with the best mask."""
    code = qrcode.QRCode(version=None, error_correction=ERROR_LEVELS[level], border=QUIET_ZONE)
    code.add_data(text, optimize=0)  # one byte-mode segment: every scanner reads it alike
    code.make(fit=True)
    return Symbol(int(code.version), level, [list(row) for row in code.get_matrix()])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(symbol: Symbol, module_px: int = DEFAULT_MODULE_PX) -> bytes:
    """A 1-bit greyscale PNG, ``module_px`` pixels per module."""
    side = symbol.size * module_px
    rows = []
    for row in symbol.modules:
        # One character per pixel, white 1 and dark 0, packed eight to a byte.
        bits = "".join(("0" if dark else "1") * module_px for dark in row)
        bits += "1" * (-len(bits) % 8)
        packed = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter: none
        rows.append(packed * module_px)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def svg(symbol: Symbol, module_px: int = DEFAULT_MODULE_PX) -> bytes:
    """An SVG of the symbol: a white square and one path of dark runs, in module units."""
    runs = []
    for y, row in enumerate(symbol.modules):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    n = symbol.size
    side = n * module_px
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    ).encode()
