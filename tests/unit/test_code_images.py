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
    url = _urls()[1]
    symbol = encode(url)
    document = svg(symbol).decode()
    assert document.startswith("<?xml") and 'viewBox="0 0 ' in document
    n = symbol.size
    assert f'viewBox="0 0 {n} {n}"' in document
    dark = sum(row.count(True) for row in symbol.modules)
    # Every dark module is in exactly one run of the path.
    runs = [r for r in document.split('d="')[1].split('"')[0].split("z") if r]
    assert sum(int(r.split("h")[1].split("v")[0]) for r in runs) == dark
