"""The officer pages' shell until the shared page layout is in: one HTML document with
its style inline, no external asset."""

from __future__ import annotations

from html import escape

STYLE = """
body{margin:0;font:15px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
color:#1a1a1a;background:#f4f5f7}
main{max-width:1000px;margin:0 auto;padding:12px}
section{background:#fff;border-radius:8px;padding:10px 12px;margin:0 0 10px}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 12px}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
a{color:#0b57d0}
"""


def document(title: str, lang: str, body: str, style: str = "") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}{style}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
