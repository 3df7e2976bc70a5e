"""The consumer page: what a scanned product is and whether to trust it, in one screen.

Server-rendered HTML with its style inline: no script, no external asset, readable on a
360-pixel phone. Chinese (zh-CN) by default, English with ``?lang=en`` or an
``Accept-Language`` that prefers English. Warnings come first, as banners nobody misses:
a recall, a blacklisted enterprise, a revoked or not genuine code, a code scanned more
often than a genuine one would be.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

from lookup_api.routes.codes.service import GENUINE, MISTYPED, REVOKED
from lookup_api.routes.resolver.service import Resolution
from qr.scans import ScanCount

CHINA = dt.timezone(dt.timedelta(hours=8))

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "产品溯源查询",
        "switch": "English",
        "product": "产品",
        "gtin": "商品条码",
        "batch": "批次",
        "produced": "生产日期",
        "expires": "保质期至",
        "origin": "原产国",
        "enterprise": "进口商/生产商",
        "uscc": "统一社会信用代码",
        "grade": "信用等级",
        "ungraded": "尚未评级",
        "inspection": "检验检疫",
        "conformant": "合格",
        "non_conformant": "不合格",
        "not_inspected": "尚无检验结果",
        "third_party": "采信第三方检验结果",
        "code": "追溯码",
        "genuine": "此追溯码为正品码，由监管账本登记。",
        "recall": "召回警告：该批次产品正在召回（{reason}），请勿食用或使用。",
        "blacklist": "失信警告：该企业已被列入严重失信名单。",
        "revoked": "此追溯码已被注销（账本条目 {entry}），请勿购买。",
        "not_genuine": "此追溯码不是正品码：监管账本中没有该码。谨防假冒！",
        "mistyped": "追溯码校验位错误：可能输入或识别有误，请重新扫描。",
        "no_batch": "未找到该批次的申报记录。",
        "over_scanned": "已被查询{count}次，首次查询时间{first}，谨防假冒",
        "scans": "第{count}次查询（首次查询时间{first}）",
        "ledger": "已记录于公开账本，检查点 {size}",
        "proof": "查看证明",
        "AA": "信用优秀，监管最宽松",
        "A": "信用良好",
        "B": "信用一般，加强检验",
        "C": "信用较差，重点监管",
        "D": "严重失信，逐批检验并公开曝光",
    },
    "en": {
        "title": "Product traceability",
        "switch": "中文",
        "product": "Product",
        "gtin": "GTIN",
        "batch": "Batch",
        "produced": "Produced on",
        "expires": "Use by",
        "origin": "Origin",
        "enterprise": "Importer / producer",
        "uscc": "Credit code (USCC)",
        "grade": "Credit grade",
        "ungraded": "not graded yet",
        "inspection": "Inspection",
        "conformant": "passed",
        "non_conformant": "failed",
        "not_inspected": "no inspection result yet",
        "third_party": "a third-party result was accepted",
        "code": "Code",
        "genuine": "This code is genuine: it is registered in the regulator's ledger.",
        "recall": "RECALL: this batch is being recalled ({reason}). Do not eat or use it.",
        "blacklist": "WARNING: this enterprise is on the serious-dishonesty blacklist.",
        "revoked": "This code was revoked (ledger entry {entry}). Do not buy.",
        "not_genuine": "This code is NOT genuine: the ledger has no such code. Beware of fakes!",
        "mistyped": "The code fails its check character: probably misread. Please scan again.",
        "no_batch": "No declaration of this batch was found.",
        "over_scanned": "Checked {count} times, first at {first}: beware of counterfeits",
        "scans": "Check number {count} (first at {first})",
        "ledger": "Recorded in the public ledger at checkpoint {size}",
        "proof": "see the proof",
        "AA": "excellent credit, lightest inspection",
        "A": "good credit",
        "B": "ordinary credit, more inspection",
        "C": "poor credit, targeted inspection",
        "D": "seriously dishonest: every batch inspected, publicly listed",
    },
}

STYLE = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
color:#1a1a1a;background:#f4f5f7}
main{max-width:560px;margin:0 auto;padding:12px}
h1{font-size:1.25rem;margin:4px 0 12px}
.lang{float:right;font-size:.9rem}
.banner{padding:12px;border-radius:8px;margin:0 0 10px;font-weight:700}
.bad{background:#b00020;color:#fff}.warn{background:#ffb300;color:#1a1a1a}
.good{background:#1b7f3b;color:#fff}
section{background:#fff;border-radius:8px;padding:10px 12px;margin:0 0 10px}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 12px}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
.grade{font-size:1.6rem;font-weight:800}
footer{font-size:.85rem;color:#555;padding:4px 2px}
a{color:#0b57d0}
"""


@dataclass(frozen=True)
class PageFacts:
    """What the page shows beyond the resolution."""

    lang: str
    scans: ScanCount | None
    scan_warning: int
    switch_href: str
    proof_href: str | None
    tree_size: int


def _local_time(utc: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    except ValueError:
        return utc
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _row(label: str, value: str | None) -> str:
    return f"<dt>{escape(label)}</dt><dd>{escape(value or '—')}</dd>"


def banners(found: Resolution, page: PageFacts) -> list[tuple[str, str]]:
    """(css class, text) of every warning, most serious first."""
    t = TEXT[page.lang]
    out: list[tuple[str, str]] = []
    batch = found.batch
    for recall in found.product.recalls:
        if recall.open and (batch is None or not recall.batches or batch.batch in recall.batches):
            out.append(("bad", t["recall"].format(reason=recall.reason)))
            break
    if found.owner is not None and found.owner.blacklist == "listed":
        out.append(("bad", t["blacklist"]))
    code = found.code
    if code is not None:
        if code.status == REVOKED:
            out.append(("bad", t["revoked"].format(entry=code.revoked_entry)))
        elif code.status == MISTYPED:
            out.append(("warn", t["mistyped"]))
        elif code.status != GENUINE:
            out.append(("bad", t["not_genuine"]))
    elif found.requested.serial is not None:
        out.append(("bad", t["not_genuine"]))
    if found.requested.batch is not None and batch is None:
        out.append(("warn", t["no_batch"]))
    scans = page.scans
    if scans is not None and scans.count > page.scan_warning:
        first = _local_time(scans.first_scan)
        out.append(("bad", t["over_scanned"].format(count=scans.count, first=first)))
    return out


def render(found: Resolution, page: PageFacts) -> str:
    t = TEXT[page.lang]
    product, batch, owner, code = found.product, found.batch, found.owner, found.code
    warnings = banners(found, page)
    parts = [
        f'<!doctype html><html lang="{page.lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(t['title'])}</title><style>{STYLE}</style></head><body><main>",
        f'<a class="lang" href="{escape(page.switch_href)}">{escape(t["switch"])}</a>',
        f"<h1>{escape(t['title'])}</h1>",
    ]
    parts += [f'<p class="banner {css}">{escape(text)}</p>' for css, text in warnings]
    if code is not None and code.status == GENUINE and not warnings:
        parts.append(f'<p class="banner good">{escape(t["genuine"])}</p>')
    rows = [
        _row(t["product"], product.name),
        _row(t["gtin"], product.gtin),
        _row(t["origin"], product.origin_country),
    ]
    if batch is not None:
        rows += [
            _row(t["batch"], batch.batch),
            _row(t["produced"], batch.produced_on),
            _row(t["expires"], batch.expires_on),
        ]
    parts.append(f"<section><dl>{''.join(rows)}</dl></section>")
    if owner is not None:
        grade = owner.grade or "—"
        meaning = t.get(grade, t["ungraded"]) if owner.grade else t["ungraded"]
        parts.append(
            "<section><dl>"
            + _row(t["enterprise"], owner.name)
            + _row(t["uscc"], owner.uscc)
            + f'<dt>{escape(t["grade"])}</dt><dd><span class="grade">{escape(grade)}</span> '
            + f"{escape(meaning)}</dd></dl></section>"
        )
    if batch is not None:
        inspection = batch.inspection
        if inspection is None:
            result = t["not_inspected"]
        else:
            result = f"{t.get(inspection.outcome, inspection.outcome)} ({inspection.inspected_on})"
            if inspection.accepted_third_party:
                result += f" · {t['third_party']}"
        parts.append(f"<section><dl>{_row(t['inspection'], result)}</dl></section>")
    if found.requested.serial is not None:
        line = escape(found.requested.serial)
        if page.scans is not None and page.scans.count <= page.scan_warning:
            first = _local_time(page.scans.first_scan)
            line += "<br>" + escape(t["scans"].format(count=page.scans.count, first=first))
        parts.append(f"<section><dl><dt>{escape(t['code'])}</dt><dd>{line}</dd></dl></section>")
    ledger = escape(t["ledger"].format(size=page.tree_size))
    if page.proof_href:
        ledger += f' · <a href="{escape(page.proof_href)}">{escape(t["proof"])}</a>'
    parts.append(f"<footer>{ledger}</footer></main></body></html>")
    return "".join(parts)
