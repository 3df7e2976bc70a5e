"""Printer exports: a ZIP of each code's PNG and SVG, and a CSV manifest (serial, URL, file)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qr.images import encode, png, svg
from qr.issuance import CodeLabel

MANIFEST = "manifest.csv"
MANIFEST_HEADER = ("serial", "url", "file")


@dataclass(frozen=True)
class LabelExport:
    zip_path: Path
    manifest_path: Path  # the same manifest, beside the ZIP
    count: int


def manifest_csv(rows: Sequence[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_HEADER)
    writer.writerows(rows)
    return out.getvalue()


def write_label_zip(
    out_dir: Path,
    name: str,
    labels: Sequence[CodeLabel],
    *,
    level: str = "M",
    on_image: Callable[[int], object] | None = None,
) -> LabelExport:
    """``{name}.zip`` (images/SERIAL.png and .svg, manifest.csv) and ``{name}.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{name}.zip"
    rows = []
    partial = zip_path.with_name(zip_path.name + ".partial")
    # PNGs are already deflated: stored as they are; SVGs and the manifest compress well.
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for label in labels:
            symbol = encode(label.url, level)
            image = f"images/{label.serial}.png"
            archive.writestr(image, png(symbol), compress_type=zipfile.ZIP_STORED)
            archive.writestr(f"images/{label.serial}.svg", svg(symbol))
            rows.append((label.serial, label.url, image))
            if on_image is not None:
                on_image(1)
        manifest = manifest_csv(rows)
        archive.writestr(MANIFEST, manifest)
    partial.replace(zip_path)
    manifest_path = out_dir / f"{name}.csv"
    manifest_path.write_text(manifest, encoding="utf-8")
    return LabelExport(zip_path, manifest_path, len(rows))
