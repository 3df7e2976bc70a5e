"""A realistic, reproducible synthetic data set, streamed in the order it happened.

Proportions follow one province's published figures: 645 cross-border
e-commerce enterprises and 90,000+ products filed, 14.88 million batches
inspected in five years with a 2.17 % non-conformity rate, 21,507 enterprise
credit records. ``--enterprises 100000`` gives a province-sized register with
about half a year of its inspections (≈ 1.5 million batches); smaller
presets scale every count down together. The same seed always gives the
same records.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.records.ids import (
    USCC_ALPHABET,
    gtin_check_digit,
    org_code_check_character,
    uscc_check_character,
)
from lookup_api.bulk import BULK_BATCH
from lookup_api.bulk.pipeline import CHUNK, Chunk, prepare

SEED_ANCHOR = dt.date(2026, 11, 1)  # the data set ends here, so a seed reproduces forever
SEED_ACTOR = "system:seed"
PIPELINE_FROM = 500  # enterprises; below this a second process costs more than it saves

CITIES = [
    ("440300", "深圳市"),
    ("310115", "上海市浦东新区"),
    ("440100", "广州市"),
    ("330200", "宁波市"),
    ("350200", "厦门市"),
    ("120100", "天津市"),
    ("370200", "青岛市"),
    ("330100", "杭州市"),
    ("410100", "郑州市"),
    ("500000", "重庆市"),
    ("320500", "苏州市"),
    ("441900", "东莞市"),
    ("460100", "海口市"),
    ("530100", "昆明市"),
    ("210200", "大连市"),
]
TRADE_NAMES = list(
    "华联瑞丰盛泰恒通德信嘉禾鑫源海宏宝利新锐金桥汇川远航天成博雅康达永安锦程志远隆兴益丰"
    "和润安邦明远正大中诚富民鼎盛启航卓越华美福瑞长青佳和优品优选跨海环球亚太东方"
)
INDUSTRIES = [
    ("进出口贸易", ["importer", "exporter"]),
    ("跨境电子商务", ["cbec_platform", "importer"]),
    ("食品进口", ["importer"]),
    ("母婴用品", ["importer"]),
    ("化妆品", ["importer"]),
    ("冷链物流", ["importer"]),
    ("供应链管理", ["importer", "exporter"]),
    ("报关", ["customs_broker"]),
    ("检验认证", ["inspection_body"]),
    ("食品", ["producer", "exporter"]),
    ("电子科技", ["producer", "exporter"]),
    ("纺织品", ["producer", "exporter"]),
]
PRODUCTS = [
    ("婴幼儿配方奶粉", "1901101000", ["NZ", "NL", "IE", "DE", "AU", "FR"], "high"),
    ("冷冻三文鱼", "0303130000", ["NO", "CL", "GB"], "medium"),
    ("葡萄酒", "2204210000", ["FR", "IT", "ES", "AU", "CL"], "medium"),
    ("橄榄油", "1509200000", ["ES", "IT", "GR"], "low"),
    ("保健食品 维生素片", "2106909090", ["US", "AU", "DE", "JP"], "high"),
    ("面膜", "3304990099", ["KR", "JP", "FR"], "medium"),
    ("洗发水", "3305100000", ["JP", "DE", "TH"], "low"),
    ("纸尿裤", "9619001100", ["JP", "KR", "DE"], "medium"),
    ("牛肉", "0202300090", ["AU", "BR", "AR", "NZ", "UY"], "high"),
    ("咖啡豆", "0901110000", ["BR", "CO", "ET", "VN"], "low"),
    ("巧克力", "1806320000", ["BE", "CH", "IT"], "low"),
    ("儿童玩具", "9503008900", ["DE", "DK", "JP"], "medium"),
    ("燕窝", "0410009010", ["MY", "ID", "TH"], "high"),
    ("蜂蜜", "0409000000", ["NZ", "AU", "CA"], "medium"),
]
MODELS = ["A", "B", "C", "Pro", "Plus"]
CASE_PREFIXES = ["深", "沪", "穗", "甬", "厦"]
PORTS = ["CNSZX", "CNSHA", "CNCAN", "CNNGB", "CNXMN", "CNTXG", "CNTAO", "CNDLC", "5316", "2248"]
INSPECTION_ITEMS = ["标签", "微生物", "重金属", "农药残留", "感官", "包装", "添加剂", "证书核查"]
NON_CONFORMITY = 0.0217
PRODUCTS_PER_ENTERPRISE = 0.93  # 90,000+ products for a register of ~100,000 enterprises
BATCHES_PER_ENTERPRISE = 15  # about half a year of the province's inspections
VIOLATION_RATE = 0.08
COMPLAINT_RATE = 0.03
BLACKLIST_RATE = 0.001
RECALL_RATE = 0.002


@dataclass
class SeedSummary:
    enterprises: int = 0
    products: int = 0
    batches: int = 0
    inspections: int = 0
    non_conformant: int = 0
    violations: int = 0
    complaints: int = 0
    recalls: int = 0
    sanctions: int = 0
    noticed: int = 0
    blacklisted: int = 0

    @property
    def records(self) -> int:
        return (
            self.enterprises
            + self.products
            + self.batches
            + self.inspections
            + self.violations
            + self.complaints
            + self.recalls
            + self.sanctions
            + self.noticed
            + self.blacklisted
        )

    def as_json(self) -> dict[str, int]:
        data = dict(self.__dict__)
        data["records"] = self.records
        return data


def _time(day: dt.date, rng: random.Random, after: str | None = None) -> str:
    """A moment in office hours in China (UTC+8) on ``day``; later than ``after`` if given."""
    low = 8 * 3600 * 1000
    if after is not None:
        low = max(low, _ms_of_day(after) + 30 * 60 * 1000)
    ms = rng.randrange(low, max(low + 1, 19 * 3600 * 1000))
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
        milliseconds=ms - 8 * 3600 * 1000
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms_of_day(time: str) -> int:
    """Milliseconds since midnight in China of an envelope time on the same day."""
    moment = dt.datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(hours=8)
    return (
        (moment.hour * 60 + moment.minute) * 60 + moment.second
    ) * 1000 + moment.microsecond // 1000


class Generator:
    """Yields ``(kind, payload, time)`` in time order; every record is valid where it stands."""

    def __init__(self, enterprises: int, seed: int = 1, until: dt.date = SEED_ANCHOR) -> None:
        self.count = enterprises
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.until = until
        self.start = until - dt.timedelta(days=183)
        self.summary = SeedSummary()
        self.usccs: list[str] = []
        self.importers: list[str] = []
        self.bodies: list[str] = []
        self.products: list[tuple[str, str]] = []  # (gtin, owner)
        self.recent_batches: list[tuple[str, str]] = []
        self.ever_noticed: set[str] = set()

    # -- identifiers -----------------------------------------------------------------

    def _uscc(self, region: str, taken: set[str]) -> str:
        alphabet = "0123456789" * 3 + "ABCDEFGHJKLMNPQRTUWXY"
        while True:
            body = "".join(self.rng.choice(alphabet) for _ in range(8))
            if not all(c in USCC_ALPHABET for c in body):
                continue
            first17 = "91" + region + body + org_code_check_character(body)
            if all(c in USCC_ALPHABET for c in first17):
                code = first17 + uscc_check_character(first17)
                if code not in taken:
                    taken.add(code)
                    return code

    def _gtin(self, taken: set[str]) -> str:
        while True:
            body = "0690" + f"{self.rng.randrange(10**9):09d}"  # GS1 China 690-699
            code = body + str(gtin_check_digit(body))
            if code not in taken:
                taken.add(code)
                return code

    # -- the stream --------------------------------------------------------------------

    def records(self) -> Iterator[tuple[str, dict[str, Any], str]]:
        yield from self._register()
        days = (self.until - self.start).days
        per_day = max(1, round(self.count * BATCHES_PER_ENTERPRISE / days))
        noticed: list[tuple[dt.date, str]] = []
        serial = 0
        for offset in range(days):
            day = self.start + dt.timedelta(days=offset)
            todays: list[tuple[str, dict[str, Any], str]] = []
            declared: list[tuple[str, str]] = []
            for _ in range(self.rng.randint(per_day // 2, per_day * 3 // 2 + 1)):
                serial += 1
                todays.extend(self._batch(day, serial, declared))
            todays.extend(self._incidents(day, noticed))
            # A day's records go in in time order; recalls only name earlier days' batches.
            todays.sort(key=lambda record: record[2])
            yield from todays
            self.recent_batches.extend(declared)
            if len(self.recent_batches) > 4000:
                del self.recent_batches[:2000]

    def _register(self) -> Iterator[tuple[str, dict[str, Any], str]]:
        rng = self.rng
        taken: set[str] = set()
        filing_time = _time(self.start - dt.timedelta(days=1), rng)
        for n in range(self.count):
            code, city = rng.choice(CITIES)
            uscc = self._uscc(code, taken)
            industry, roles = rng.choice(INDUSTRIES)
            if n == 0 or rng.random() < 0.01:
                industry, roles = "检验认证", ["inspection_body"]
            name = f"{city}{rng.choice(TRADE_NAMES)}{rng.choice(TRADE_NAMES)}{industry}有限公司"
            filed_on = self.start - dt.timedelta(days=rng.randrange(30, 3650))
            self.usccs.append(uscc)
            if "inspection_body" in roles:
                self.bodies.append(uscc)
            if {"importer", "cbec_platform", "producer"} & set(roles):
                self.importers.append(uscc)
            self.summary.enterprises += 1
            yield (
                "enterprise.filed",
                {
                    "uscc": uscc,
                    "name": name,
                    "roles": roles,
                    "address": f"{city}{rng.randrange(1, 999)}号",
                    "country": "CN",
                    "filed_on": filed_on.isoformat(),
                },
                filing_time,
            )
        if not self.importers:
            self.importers = list(self.usccs)
        gtins: set[str] = set()
        for _ in range(max(1, round(self.count * PRODUCTS_PER_ENTERPRISE))):
            name, hs, origins, risk = rng.choice(PRODUCTS)
            gtin = self._gtin(gtins)
            owner = rng.choice(self.importers)
            self.products.append((gtin, owner))
            self.summary.products += 1
            yield (
                "product.filed",
                {
                    "gtin": gtin,
                    "name": f"{name} {rng.choice(MODELS)}{rng.randrange(100, 999)}",
                    "hs_code": hs,
                    "origin_country": rng.choice(origins),
                    "owner_uscc": owner,
                    "risk_class": risk,
                },
                filing_time,
            )

    def _batch(
        self, day: dt.date, serial: int, declared: list[tuple[str, str]]
    ) -> Iterator[tuple[str, dict[str, Any], str]]:
        rng = self.rng
        gtin, owner = rng.choice(self.products)
        batch = f"B{day:%y%m%d}{serial % 100000:05d}"
        produced = day - dt.timedelta(days=rng.randrange(10, 200))
        self.summary.batches += 1
        declared_at = _time(day, rng)
        yield (
            "batch.declared",
            {
                "gtin": gtin,
                "batch": batch,
                "quantity": rng.choice([120, 500, 1000, 2400, 5000, 12000]),
                "produced_on": produced.isoformat(),
                "expires_on": (
                    produced + dt.timedelta(days=rng.choice([365, 540, 730, 1095]))
                ).isoformat(),
                "port": rng.choice(PORTS),
                "declaration_no": f"{rng.randrange(10**17, 10**18)}",
                "declarant_uscc": owner,
            },
            declared_at,
        )
        outcome = "non_conformant" if rng.random() < NON_CONFORMITY else "conformant"
        self.summary.inspections += 1
        self.summary.non_conformant += outcome == "non_conformant"
        inspection: dict[str, Any] = {
            "gtin": gtin,
            "batch": batch,
            "outcome": outcome,
            "inspected_on": day.isoformat(),
            "accepted_third_party": rng.random() < 0.15,
        }
        if inspection["accepted_third_party"] and self.bodies:
            inspection["body_uscc"] = rng.choice(self.bodies)
        if outcome == "non_conformant":
            inspection["items"] = rng.sample(INSPECTION_ITEMS, rng.randint(1, 2))
        yield "inspection.result", inspection, _time(day, rng, after=declared_at)
        declared.append((gtin, batch))

    def _incidents(
        self, day: dt.date, noticed: list[tuple[dt.date, str]]
    ) -> Iterator[tuple[str, dict[str, Any], str]]:
        rng = self.rng
        days = (self.until - self.start).days
        scale = self.count / days
        for _ in range(_poisson(rng, scale * VIOLATION_RATE)):
            uscc = rng.choice(self.usccs)
            item = rng.choices(
                [
                    "ciq.declaration-error",
                    "ciq.late-declaration",
                    "ciq.label-nonconformity",
                    "ciq.evade-inspection",
                    "ciq.unauthorised-sale",
                    "ciq.false-declaration",
                    "ciq.adulteration",
                    "ciq.forged-documents",
                ],
                weights=[40, 25, 15, 6, 5, 5, 2, 2],
            )[0]
            self.summary.violations += 1
            yield (
                "violation.recorded",
                {
                    "uscc": uscc,
                    "item": item,
                    "occurred_on": (day - dt.timedelta(days=rng.randrange(0, 20))).isoformat(),
                    "case_no": _case_no(rng, day),
                    "fine_fen": rng.choice([0, 200000, 500000, 1000000, 3000000]),
                },
                _time(day, rng),
            )
        for _ in range(_poisson(rng, scale * COMPLAINT_RATE)):
            gtin, owner = rng.choice(self.products)
            self.summary.complaints += 1
            time = _time(day, rng)
            yield (
                "complaint.received",
                {
                    "uscc": owner,
                    "channel": rng.choice(["12365", "platform", "other"]),
                    "gtin": gtin,
                    "summary": rng.choice(
                        ["包装破损", "标签无中文", "疑似临期", "异味", "与描述不符"]
                    ),
                },
                time,
            )
            # Verification needs the complaint's index; the importer follows up in a later batch.
        for _ in range(_poisson(rng, scale * RECALL_RATE)):
            if not self.recent_batches:
                break
            gtin, batch = rng.choice(self.recent_batches)
            self.summary.recalls += 1
            yield (
                "recall.issued",
                {
                    "gtin": gtin,
                    "batches": [batch],
                    "reason": "检出不合格项目，主动召回",
                    "issued_on": day.isoformat(),
                },
                _time(day, rng),
            )
        if rng.random() < scale * BLACKLIST_RATE * 5:
            uscc = rng.choice(self.usccs)
            if uscc not in self.ever_noticed:
                self.ever_noticed.add(uscc)
                self.summary.noticed += 1
                self.summary.sanctions += 1
                interview = _time(day, rng)
                yield (
                    "sanction.interview",
                    {"uscc": uscc, "reason": "严重失信风险约谈", "on": day.isoformat()},
                    interview,
                )
                noticed.append((day, uscc))
                yield (
                    "blacklist.noticed",
                    {
                        "uscc": uscc,
                        "reason": "拟列入严重失信企业名单",
                        "basis": "《出入境检验检疫企业信用管理办法》",
                    },
                    _time(day, rng, after=interview),
                )
        while noticed and (day - noticed[0][0]).days >= 31:
            _, uscc = noticed.pop(0)
            self.summary.blacklisted += 1
            yield (
                "blacklist.listed",
                {"uscc": uscc, "reason": "经告知、申辩程序后列入严重失信企业名单"},
                _time(day, rng),
            )


def _case_no(rng: random.Random, day: dt.date) -> str:
    return f"{rng.choice(CASE_PREFIXES)}检罚〔{day.year}〕{rng.randrange(1, 9999)}号"


def _poisson(rng: random.Random, mean: float) -> int:
    """A small Poisson draw (Knuth), enough for daily incident counts."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = 2.718281828459045 ** (-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def estimated_records(enterprises: int) -> int:
    """Roughly how many records a seed of this size makes (for progress bars)."""
    return round(enterprises * (1 + PRODUCTS_PER_ENTERPRISE + 2 * BATCHES_PER_ENTERPRISE + 0.1))


def seed_chunks(enterprises: int, seed: int, actor: str) -> abc.Generator[Chunk, None, SeedSummary]:
    """The producer of a seed: its records, validated, in chunks; returns the summary."""
    generator = Generator(enterprises, seed)
    chunk = Chunk([], [])
    for n, (kind, payload, time) in enumerate(generator.records(), start=1):
        prepare(n, kind, payload, actor, time, chunk)
        if len(chunk.entries) >= CHUNK:
            yield chunk
            chunk = Chunk([], [])
    yield chunk
    return generator.summary


def seed_ledger(
    ledger: Any,
    enterprises: int,
    seed: int = 1,
    *,
    batch_size: int = BULK_BATCH,
    progress: Any = None,
) -> SeedSummary:
    """Generate and append the data set; every record goes through validation and the rules.

    Large seeds generate and validate in a second process while this one appends.
    """
    if enterprises < PIPELINE_FROM:
        from ledger.records.entry import record_entry

        generator = Generator(enterprises, seed)
        entries: Iterator[Any] = (
            record_entry(kind, payload, SEED_ACTOR, time)
            for kind, payload, time in generator.records()
        )
        _append_all(ledger, entries, batch_size, progress)
        summary = generator.summary
    else:
        from lookup_api.bulk.pipeline import Pipeline, batched, collector_paused

        pipeline = Pipeline(seed_chunks, enterprises, seed, SEED_ACTOR, ahead=batch_size + CHUNK)
        batches = batched(iter(pipeline), batch_size, lambda chunk: None)
        with collector_paused():
            _append_all(
                ledger, (entry for batch in batches for _, entry in batch), batch_size, progress
            )
        summary = pipeline.result
    return summary


def _append_all(ledger: Any, entries: Iterator[Any], batch_size: int, progress: Any) -> None:
    for result in ledger.append_bulk(entries, batch_size=batch_size, all_or_nothing=True):
        if result.rejected:
            position, why = next(iter(result.rejected.items()))
            raise RuntimeError(f"seed record refused (batch position {position}): {why}")
        if progress is not None:
            progress(len(result.leaf_hashes))
