"""Prometheus metrics: request latency by route, rate-limit refusals, append batch sizes,
response cache lookups by kind and outcome.

Each process counts in memory. Under ``credtrace serve --workers N`` every worker also
writes its counts to a file of its own in a folder the server makes for the run
(``CREDTRACE_METRICS_DIR``), once a second while they change and whenever it answers a
scrape, and a scrape sums every worker's file: so whichever worker answers
``GET /metrics``, it answers for all of them (another worker's counts lag by at most a
second).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
UNMATCHED = "unmatched"  # requests no route took (404s, refusals before routing): one label
WRITE_INTERVAL = 1.0  # seconds between a worker's writes of its counts

Labels = tuple[tuple[str, str], ...]


class Histogram:
    """Cumulative-bucket histogram series, by label set."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.series: dict[Labels, list[float]] = {}  # bucket counts..., +Inf, sum

    def observe(self, labels: Labels, value: float) -> None:
        counts = self.series.get(labels)
        if counts is None:
            counts = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        for position, bound in enumerate(self.buckets):
            if value <= bound:
                counts[position] += 1
                break
        else:
            counts[len(self.buckets)] += 1
        counts[-1] += value


class Metrics:
    """The counts of one process; thread-safe (sync handlers run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batches = Histogram(BATCH_BUCKETS)
        self.rate_limited: dict[str, float] = {}
        self.cache: dict[str, float] = {}  # "kind outcome" -> lookups (lookup_api.cache)
        self.version = 0  # bumped by every count: a writer skips a file that would not change

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (("route", route), ("method", method), ("code", str(status)))
        with self._lock:
            self.latency.observe(labels, seconds)
            self.version += 1

    def observe_batch(self, size: int) -> None:
        with self._lock:
            self.batches.observe((), float(size))
            self.version += 1

    def count_rate_limited(self, policy: str) -> None:
        with self._lock:
            self.rate_limited[policy] = self.rate_limited.get(policy, 0) + 1
            self.version += 1

    def count_cache(self, kind: str, outcome: str) -> None:
        key = f"{kind} {outcome}"
        with self._lock:
            self.cache[key] = self.cache.get(key, 0) + 1
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON-able data (what a worker writes to its file)."""
        with self._lock:
            return {
                "latency": [[list(map(list, k)), v[:]] for k, v in self.latency.series.items()],
                "batches": [[list(map(list, k)), v[:]] for k, v in self.batches.series.items()],
                "rate_limited": dict(self.rate_limited),
                "cache": dict(self.cache),
            }


def merge(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The sum of several processes' snapshots."""
    merged: dict[str, Any] = {"latency": {}, "batches": {}, "rate_limited": {}, "cache": {}}
    for snapshot in snapshots:
        for name in ("latency", "batches"):
            for labels, counts in snapshot.get(name, []):
                key = tuple(tuple(pair) for pair in labels)
                into = merged[name].setdefault(key, [0.0] * len(counts))
                for position, count in enumerate(counts):
                    into[position] += count
        for counter in ("rate_limited", "cache"):
            for key, count in snapshot.get(counter, {}).items():
                merged[counter][key] = merged[counter].get(key, 0) + count
    return merged


def _label_text(labels: Iterable[tuple[str, str]]) -> str:
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{name}="{escaped(value)}"' for name, value in labels)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _histogram_lines(
    name: str, help_text: str, buckets: Sequence[float], series: Mapping[Labels, list[float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for labels, counts in sorted(series.items()):
        running = 0.0
        for bound, count in zip((*buckets, float("inf")), counts[:-1], strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else _number(bound)
            lines.append(
                f"{name}_bucket{{{_label_text((*labels, ('le', le)))}}} {_number(running)}"
            )
        prefix = f"{{{_label_text(labels)}}}" if labels else ""
        lines.append(f"{name}_sum{prefix} {_number(counts[-1])}")
        lines.append(f"{name}_count{prefix} {_number(running)}")
    return lines


def render(merged: Mapping[str, Any], gauges: Mapping[str, tuple[str, float]]) -> str:
    """The Prometheus text exposition (format 0.0.4) of merged counts and ``gauges``
    (name -> (help, value))."""
    lines: list[str] = []
    for name, (help_text, value) in gauges.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_number(value)}"]
    lines += _histogram_lines(
        "credtrace_http_request_duration_seconds",
        "Time to answer a request, by route template, method and status.",
        LATENCY_BUCKETS,
        merged["latency"],
    )
    lines += _histogram_lines(
        "credtrace_append_batch_entries",
        "Entries per group-commit transaction of the append service.",
        BATCH_BUCKETS,
        merged["batches"],
    )
    name = "credtrace_rate_limited_total"
    lines += [f"# HELP {name} Requests refused 429, by policy.", f"# TYPE {name} counter"]
    for policy, count in sorted(merged["rate_limited"].items()):
        lines.append(f'{name}{{policy="{policy}"}} {_number(count)}')
    name = "credtrace_cache_lookups_total"
    lines += [
        f"# HELP {name} Response cache lookups, by kind and outcome "
        "(hit, miss, stale: invalidated by an append, bypass: Redis unavailable).",
        f"# TYPE {name} counter",
    ]
    for key, count in sorted(merged["cache"].items()):
        kind, _, outcome = key.partition(" ")
        labels = _label_text((("kind", kind), ("outcome", outcome)))
        lines.append(f"{name}{{{labels}}} {_number(count)}")
    return "\n".join(lines) + "\n"


class SharedMetrics:
    """This process's Metrics, written to ``folder`` for the other workers to read: by a
    thread, every WRITE_INTERVAL while the counts change, and at every scrape."""

    def __init__(self, metrics: Metrics, folder: Path | None) -> None:
        self.metrics = metrics
        self.folder = folder
        self._file = None if folder is None else folder / f"{os.getpid()}.json"
        self._written = -1
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._file is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep_written, name="metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _keep_written(self) -> None:
        while not self._stop.wait(WRITE_INTERVAL):
            if self.metrics.version != self._written:
                self.write()

    def write(self) -> None:
        if self._file is None:
            return
        with self._write_lock:
            self._written = self.metrics.version
            temporary = self._file.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.metrics.snapshot()), encoding="utf-8")
            temporary.replace(self._file)  # readers see the old file or the new, whole

    def all_counts(self) -> dict[str, Any]:
        """Every worker's counts summed (this one's fresh), or this process's alone."""
        if self.folder is None:
            return merge([self.metrics.snapshot()])
        self.write()
        snapshots = [self.metrics.snapshot()]
        for path in sorted(self.folder.glob("*.json")):
            if path == self._file:
                continue
            try:
                snapshots.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):  # a worker's file mid-replace or gone: skip it
                continue
        return merge(snapshots)
