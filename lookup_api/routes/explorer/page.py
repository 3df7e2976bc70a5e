"""The ledger explorer's HTML: a page of entries and one entry with its proof check.

The check itself is ``ledger-verify.js`` (served by the app at ``VERIFY_SCRIPT``): the
page hands it only the entry's index and leaf input; the script fetches the signed
checkpoint, the key and the audit path from the public routes and computes the root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lookup_api.pages.i18n import EN, ZH, Table
from lookup_api.pages.layout import Markup, Shell, esc, join, link, table
from lookup_api.routes.explorer.service import EntriesPage
from lookup_api.routes.ledger.controller import EntryView

VERIFY_SCRIPT = "/assets/ledger-verify.js"
ENVELOPE_FIELDS = ("v", "index", "prev", "kind", "subject", "time", "actor", "payload_hash")

TEXT: Table = {
    ZH: {
        "title": "账本浏览",
        "entry": "账本条目 {index}",
        "index": "序号",
        "kind": "类型",
        "subject": "主体",
        "time": "时间（UTC）",
        "actor": "记录人",
        "newer": "← 较新",
        "older": "较旧 →",
        "empty": "账本中还没有已签名的条目。",
        "size": "最新检查点：{size} 条",
        "envelope": "信封（默克尔树承诺的内容）",
        "leaf_hash": "叶哈希",
        "payload": "载荷",
        "redacted": "载荷已被删除（删除依据见条目 {by}）；信封与证明仍然有效。",
        "withheld": "载荷不公开：{reason}",
        "proof": "包含证明（由浏览器自行验证）",
        "checking": "正在验证…",
        "ok": "已通过检查点 {size} 验证（根 {root}）",
        "signed": "；检查点签名（Ed25519）有效",
        "unsigned": "；本浏览器无法验证 Ed25519 签名",
        "failed": "验证失败：{error}",
        "no_script": "需要启用 JavaScript 才能在浏览器中验证证明。",
        "raw": "原始数据：",
        "all": "全部条目",
        "profile": "企业公开信息",
    },
    EN: {
        "title": "Ledger explorer",
        "entry": "Ledger entry {index}",
        "index": "Index",
        "kind": "Kind",
        "subject": "Subject",
        "time": "Time (UTC)",
        "actor": "Actor",
        "newer": "← newer",
        "older": "older →",
        "empty": "The ledger has no signed entry yet.",
        "size": "Latest checkpoint: {size} entries",
        "envelope": "Envelope (what the Merkle tree commits to)",
        "leaf_hash": "Leaf hash",
        "payload": "Payload",
        "redacted": "The payload was redacted (see entry {by}); envelope and proofs stay valid.",
        "withheld": "Payload withheld: {reason}",
        "proof": "Inclusion proof (checked by this browser)",
        "checking": "checking…",
        "ok": "verified against checkpoint {size} (root {root})",
        "signed": "; the checkpoint's Ed25519 signature is valid",
        "unsigned": "; this browser cannot check Ed25519 signatures",
        "failed": "FAILED: {error}",
        "no_script": "JavaScript is needed to check the proof in the browser.",
        "raw": "Raw data: ",
        "all": "all entries",
        "profile": "public profile",
    },
}

# The page's own rules, after the shell's (lookup_api.pages.layout).
STYLE = """
td.mono,dd.mono{font-family:ui-monospace,monospace;font-size:.9rem}
pre{background:#f4f5f7;padding:8px;overflow:auto;font-size:.85rem;margin:0}
.verified{color:#1b7f3b;font-weight:700}.failed{color:#b00020;font-weight:700}
#proof-check{overflow-wrap:anywhere}
"""


def _subject_link(subject: str, shell: Shell) -> Markup:
    """The subject, linked to the officers' page of the enterprise it names."""
    if subject.startswith("uscc:"):
        return link(shell.href(f"/officer/enterprises/{subject.removeprefix('uscc:')}"), subject)
    return esc(subject)


def list_body(page: EntriesPage, shell: Shell) -> Markup:
    t = TEXT[shell.lang]
    parts = [Markup(f'<p class="muted">{esc(t["size"].format(size=page.tree_size))}</p>')]
    if not page.entries:
        parts.append(Markup(f"<p>{esc(t['empty'])}</p>"))
        return join(parts)
    rows = [
        (
            link(shell.href(f"/officer/ledger/{view.index}"), view.index),
            view.envelope.get("time"),
            view.envelope.get("kind"),
            _subject_link(str(view.envelope.get("subject", "")), shell),
            view.envelope.get("actor"),
        )
        for view in page.entries
    ]
    head = [t[c] for c in ("index", "time", "kind", "subject", "actor")]
    parts.append(Markup(f'<section class="entries">{table(head, rows)}</section>'))
    pager = []
    if page.newer is not None:
        href = shell.href("/officer/ledger", before=str(page.newer))
        pager.append(f'<a rel="prev" href="{esc(href)}">{esc(t["newer"])}</a>')
    if page.older is not None:
        href = shell.href("/officer/ledger", before=str(page.older))
        pager.append(f'<a rel="next" href="{esc(href)}">{esc(t["older"])}</a>')
    parts.append(Markup(f'<nav class="pager">{"".join(pager)}</nav>'))
    return join(parts)


def _payload(view: EntryView, t: Mapping[str, str]) -> str:
    if view.redacted:
        return f"<p>{esc(t['redacted'].format(by=view.redacted_by))}</p>"
    if view.withheld:
        return f"<p>{esc(t['withheld'].format(reason=view.withheld_reason or ''))}</p>"
    shown: Any = view.payload
    text = json.dumps(shown, ensure_ascii=False, indent=2, sort_keys=True)
    return f'<pre class="payload">{esc(text)}</pre>'


def entry_body(view: EntryView, tree_size: int, shell: Shell) -> Markup:
    t = TEXT[shell.lang]
    env = view.envelope
    rows = "".join(
        f'<dt>{esc(name)}</dt><dd class="mono">'
        + (
            _subject_link(str(env.get(name, "")), shell)
            if name == "subject"
            else esc(env.get(name))
        )
        + "</dd>"
        for name in ENVELOPE_FIELDS
    )
    words = {k: t[k] for k in ("checking", "ok", "signed", "unsigned", "failed")}
    check = (
        # role=status: a screen reader announces the verdict when the script writes it.
        f'<p id="proof-check" role="status" data-verify-entry="{view.index}" '
        f'data-leaf-input="{esc(view.leaf_input)}" '
        f'data-words="{esc(json.dumps(words, ensure_ascii=False))}">{esc(t["no_script"])}</p>'
    )
    around = min(view.index + 26, tree_size)  # the list page with this entry in its middle
    raw = (
        f"<p>{esc(t['raw'])}{link(f'/v1/ledger/entries/{view.index}', 'JSON')} · "
        f"{link(f'/v1/ledger/entries/{view.index}/proof', 'tlog-proof')} · "
        f"{link('/checkpoint', 'checkpoint')} · "
        f"{link(shell.href('/officer/ledger', before=str(around)), t['all'])}</p>"
    )
    return Markup(
        f"<section><h2>{esc(t['proof'])}</h2>{check}</section>"
        f"<section><h2>{esc(t['envelope'])}</h2><dl>{rows}"
        f'<dt>{esc(t["leaf_hash"])}</dt><dd class="mono">{esc(view.leaf_hash)}</dd></dl>'
        f"</section><section><h2>{esc(t['payload'])}</h2>{_payload(view, t)}</section>{raw}"
        f'<script src="{VERIFY_SCRIPT}"></script>'
    )
