"""The API reference at ``/schema``: rendered on the server from the OpenAPI document,
with no script and no asset from elsewhere, so it works offline and behind firewalls.
(Litestar's own viewers load their code from public CDNs.)"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

_STYLE = """
body{font:15px/1.5 system-ui,"Noto Sans CJK SC",sans-serif;margin:0 auto;max-width:70rem;
padding:1rem 2rem;color:#1b1f24}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d0d7de;margin-top:2.5rem}
section{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.method{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
.get{color:#0969da}.post{color:#1a7f37}.path{font-family:ui-monospace,monospace}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;
text-align:left;vertical-align:top}pre{background:#f6f8fa;overflow:auto;padding:.5rem;max-height:20rem}
code{font-family:ui-monospace,monospace}
"""


def _schema_text(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return escape(str(schema["$ref"]).rsplit("/", 1)[-1])
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return " | ".join(_schema_text(option) for option in schema[union])
    kind = schema.get("type", "")
    parts = [" | ".join(kind) if isinstance(kind, list) else str(kind)]
    limits = ("pattern", "format", "minimum", "maximum", "minLength", "maxLength", "enum")
    parts += [f"{k} {schema[k]}" for k in limits if schema.get(k) is not None]
    return escape(" · ".join(p for p in parts if p))


def _parameters(operation: dict[str, Any]) -> str:
    rows = [
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_schema_text(p.get('schema'))}</td>"
        f"<td>{escape(p.get('description', '') or '')}</td></tr>"
        for p in operation.get("parameters", [])
    ]
    if not rows:
        return ""
    head = "<tr><th>name</th><th>in</th><th>required</th><th>schema</th><th>meaning</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _body(operation: dict[str, Any]) -> str:
    content = operation.get("requestBody", {}).get("content", {})
    return "".join(
        f"<p>Request body, <code>{escape(media)}</code>:</p>"
        f"<pre>{escape(json.dumps(spec.get('schema', {}), indent=2, ensure_ascii=False))}</pre>"
        for media, spec in content.items()
    )


def _responses(operation: dict[str, Any]) -> str:
    rows = [
        f"<tr><td>{escape(status)}</td><td>{escape(spec.get('description', ''))}</td>"
        f"<td>{escape(', '.join(spec.get('content', {})))}</td></tr>"
        for status, spec in sorted(operation.get("responses", {}).items())
    ]
    head = "<tr><th>status</th><th>meaning</th><th>media types</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    secured = " · needs an API key" if operation.get("security") else ""
    return (
        f'<section id="{escape(operation.get("operationId", ""))}">'
        f'<span class="method {escape(method)}">{escape(method)}</span> '
        f'<span class="path">{escape(path)}</span>'
        f"<p>{escape(operation.get('summary', ''))}{secured}</p>"
        f"{_parameters(operation)}{_body(operation)}{_responses(operation)}</section>"
    )


def render_reference(schema: dict[str, Any]) -> str:
    """The whole reference page for an OpenAPI document."""
    info = schema.get("info", {})
    groups: dict[str, list[str]] = {}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            tag = (operation.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(_operation(path, method, operation))
    body = "".join(
        f"<h2>{escape(tag)}</h2>{''.join(items)}" for tag, items in sorted(groups.items())
    )
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} — API reference</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1><p>API reference (接口说明). The machine-readable document is "
        f'<a href="openapi.json">openapi.json</a>.</p>{body}</body></html>'
    )


class PackagedViewer(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return render_reference(openapi_schema).encode()
