"""QR images decode, with an independent decoder (zxing-cpp), to exactly the URL issued."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from ledger.tlog.note import Signer
from qr.images import QUIET_ZONE, encode, png, svg
from qr.links import code_url
from qr.serials import new_serials
from qr.signing import sign_url

PUBLIC = "https://codes.example.cn"
GTIN = "06901234567892"
# Byte-mode capacity at error correction M of QR versions 1 to 10 (ISO/IEC 18004 table 7).
CAPACITY_M = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213]


def smallest_version(length: int) -> int:
    return next(v for v, capacity in enumerate(CAPACITY_M, start=1) if capacity >= length)


def _urls() -> list[str]:
    canonical = code_url(PUBLIC, GTIN, "B1", new_serials(1)[0])
    return [canonical, f"{canonical}?sig={sign_url(canonical, Signer.generate('t/codes'))}"]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_png_decodes_to_the_url_at_the_smallest_version_and_level_m(signed: bool) -> None:
    url = _urls()[signed]
    symbol = encode(url)
    image = Image.open(io.BytesIO(png(symbol, module_px=4)))
    assert image.mode == "1" and image.size[0] == image.size[1]
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    barcode = found[0]
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    assert barcode.text == url
    extra: dict[str, object] = dict(barcode.extra)  # type: ignore[call-overload]
    assert extra["ECLevel"] == "M"
    assert int(str(extra["Version"])) == smallest_version(len(url)) == symbol.version
    # The quiet zone: four light modules on every side.
    modules = 17 + 4 * symbol.version + 2 * QUIET_ZONE
    assert image.size[0] == modules * 4
    pixels = image.load()
    assert pixels is not None
    assert all(pixels[x, y] for x in range(QUIET_ZONE * 4) for y in range(image.size[1]))


def test_the_svg_is_the_same_symbol() -> None:
    """Each row of the path draws exactly the row's dark modules (rendered for real in
    tests/test_codes_screens.py)."""
    url = _urls()[1]
    symbol = encode(url)
    document = svg(symbol).decode()
    assert document.startswith("<?xml")
    n = symbol.size
    assert f'viewBox="0 0 {n} {n}"' in document
    path = document.split(' d="')[1].split('"')[0]
    drawn = []
    for line in path.split("M0 ")[1:]:
        y, steps = line.split(".5", 1)
        cells = steps.replace("m1 0", "0").replace("h1", "1")
        drawn.append((int(y), cells))
    expected = [(y, row) for y, row in enumerate(symbol.rows) if "1" in row]
    assert drawn == expected


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
@pytest.mark.parametrize("length", [1, 17, 64, 161, 400, 800])
def test_the_fast_layout_is_the_symbol_qrcode_draws_for_every_mask(level: str, length: int) -> None:
    """Placement, masks and format information against the qrcode package, module for
    module; the penalty that picks the mask against qrcode's own scoring."""
    import random

    import qrcode
    import qrcode.util

    from qr.images import ERROR_LEVELS
    from qr.symbols import _penalty, layout, matrix

    text = "".join(random.choice("abcXYZ019/:?=é") for _ in range(length))
    ecl = ERROR_LEVELS[level]
    for mask in range(8):
        reference = qrcode.QRCode(error_correction=ecl, border=0, mask_pattern=mask)
        reference.add_data(qrcode.util.QRData(text.encode(), mode=qrcode.util.MODE_8BIT_BYTE))
        reference.make(fit=True)
        drawn = matrix(text, ecl, mask)
        assert drawn.version == reference.version
        assert drawn.rows == ["".join("1" if m else "0" for m in row) for row in reference.modules]
        n = drawn.size
        rows = int("".join(drawn.rows), 2)
        columns = int("".join("".join(r[c] for r in drawn.rows) for c in range(n)), 2)
        modules = [[m == "1" for m in row] for row in drawn.rows]
        assert _penalty(rows, columns, layout(drawn.version, ecl)) == qrcode.util.lost_point(
            modules
        )
