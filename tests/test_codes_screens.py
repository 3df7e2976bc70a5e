"""Headless Chromium: the consumer page at 360×780 and the SVG images, rendered for real.

Chromium draws what a phone would; the banner's colour is read from the screenshot, and
the rendered SVG is decoded with zxing-cpp. Skipped where no Chromium is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.images import encode, svg
from qr.issuance import issue_codes
from tests.codes_env import BATCH, GTIN, add, appender, seed
from tests.conftest import ORIGIN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed"),
]
RED = (0xB0, 0x00, 0x20)
GREEN = (0x1B, 0x7F, 0x3B)


def screenshot(html: Path, png: Path, width: int = 360, height: int = 780) -> Image.Image:
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--screenshot={png}", f"--window-size={width},{height}", html.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return Image.open(png).convert("RGB")


def _has(image: Image.Image, colour: tuple[int, int, int], top: int = 200) -> bool:
    """Whether ``colour`` fills a good part of the top of the screen (a banner)."""
    pixels = [image.getpixel((x, y)) for x in range(0, image.width, 4) for y in range(top)]
    return sum(1 for p in pixels if p == colour) > len(pixels) // 20


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], list[str]]]:
    settings = Settings(
        ledger=LedgerConfig(sqlite_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        scan_warning=2,
    )
    services = Services.open(settings)
    try:
        seed(services.ledger)
        serials = issue_codes(
            services.engine, appender(services.ledger), gtin=GTIN, batch=BATCH, count=3,
            key_id="0123abcd", actor="officer:test",
        ).serials  # fmt: skip
        add(
            services.ledger,
            "codes.revoked",
            {"gtin": GTIN, "batch": BATCH, "serials": [serials[2]], "reason": "stolen"},
        )
        with TestClient(create_app(settings, services)) as client:
            yield client, serials
    finally:
        services.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_genuine_code_is_green_and_an_overscanned_or_revoked_one_red(
    site: tuple[TestClient[Litestar], list[str]], tmp_path: Path, lang: str
) -> None:
    client, serials = site
    shots = {}
    for name, serial, views in (("normal", 0, 1), ("overscanned", 1, 3), ("revoked", 2, 1)):
        html = ""
        for _ in range(views):
            html = client.get(f"/info/01/{GTIN}/10/{BATCH}/21/{serials[serial]}?lang={lang}").text
        page = tmp_path / f"{name}-{lang}.html"
        page.write_text(html, encoding="utf-8")
        shots[name] = screenshot(page, tmp_path / f"{name}-{lang}.png")
        assert shots[name].size == (360, 780)
    assert _has(shots["normal"], GREEN) and not _has(shots["normal"], RED)
    assert _has(shots["overscanned"], RED) and not _has(shots["overscanned"], GREEN)
    assert _has(shots["revoked"], RED)


def test_the_svg_as_a_browser_draws_it_decodes_to_the_url(tmp_path: Path) -> None:
    url = f"https://codes.example.cn/01/{GTIN}/10/{BATCH}/21/0123456789ABC"
    symbol = encode(url)
    drawing = tmp_path / "code.svg"
    drawing.write_bytes(svg(symbol, module_px=6))
    side = symbol.size * 6
    image = screenshot(drawing, tmp_path / "code.png", side + 40, side + 40)
    (decoded,) = zxingcpp.read_barcodes(image)
    assert decoded.text == url
