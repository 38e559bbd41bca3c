"""The collector's own metrics (``GET /metrics``): what it received, refused, committed and holds.

Names, types, help and buckets come from the metric catalog
(``infersight.instrument.metrics._collector_specs``). Counters and the commit histogram are updated
on the ingest paths (O(1), no allocation beyond prometheus_client's); the gauges (queue depth,
bytes in flight, DB size) and the retention counter are read from the live objects at scrape
time. Every collector has its own registry, so two collectors in one process never mix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

SIGNALS = ("traces", "metrics", "logs")
REASONS = ("unauthorized", "forbidden_host", "bad_request", "too_large", "unsupported", "timeout", "overloaded",
           "storage_error")


def _spec(name: str) -> Any:
    from infersight.instrument.metrics.catalog import BY_NAME

    return BY_NAME[name]


class CollectorMetrics:
    """Counters and the commit-latency histogram, on ``registry`` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()

        def counter(name: str) -> Counter:
            spec = _spec(name)
            return Counter(name, spec.help, spec.labels, registry=self.registry)

        self.received = counter("infersight_collector_received_items")
        self.acknowledged = counter("infersight_collector_acknowledged_items")
        self.rejected_items = counter("infersight_collector_rejected_items")
        self.rejected_requests = counter("infersight_collector_rejected_requests")
        spec = _spec("infersight_collector_commit_duration_seconds")
        self.commit_seconds = Histogram(spec.name, spec.help, registry=self.registry, buckets=spec.buckets)
        # pre-create every series, so rates start at 0 instead of appearing on the first event
        for sig in SIGNALS:
            for c in (self.received, self.acknowledged, self.rejected_items):
                c.labels(sig)
            for reason in REASONS:
                self.rejected_requests.labels(sig, reason)

    def rejected(self, signal: str, reason: str) -> None:
        self.rejected_requests.labels(signal, reason).inc()

    def accepted(self, signal: str, accepted: int, rejected: int) -> None:
        """One request committed: ``accepted`` items stored, ``rejected`` invalid ones dropped."""
        self.received.labels(signal).inc(accepted + rejected)
        if accepted:
            self.acknowledged.labels(signal).inc(accepted)
        if rejected:
            self.rejected_items.labels(signal).inc(rejected)

    def watch(self, *, queue_rows: Callable[[], int], inflight_bytes: Callable[[], int], db_path: str,
              retention_deleted: Callable[[], int]) -> None:
        """Register the scrape-time gauges over the running collector's parts."""
        self.registry.register(_LiveGauges(queue_rows, inflight_bytes, db_path, retention_deleted))


class _LiveGauges(PromCollector):
    def __init__(self, queue_rows: Callable[[], int], inflight_bytes: Callable[[], int], db_path: str,
                 retention_deleted: Callable[[], int]) -> None:
        self._queue_rows = queue_rows
        self._inflight = inflight_bytes
        self._db_path = db_path
        self._deleted = retention_deleted

    def describe(self) -> list[Metric]:
        return list(self._families(live=False))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(live=True)

    def _families(self, *, live: bool) -> Iterator[Metric]:
        for name, read in (("infersight_collector_queue_rows", self._queue_rows),
                           ("infersight_collector_inflight_bytes", self._inflight),
                           ("infersight_collector_db_size_bytes", self._db_size)):
            fam = GaugeMetricFamily(name, _spec(name).help)
            if live:
                fam.add_metric([], float(read()))
            yield fam
        name = "infersight_collector_retention_deleted_rows"
        cfam = CounterMetricFamily(name, _spec(name).help)
        if live:
            cfam.add_metric([], float(self._deleted()))
        yield cfam

    def _db_size(self) -> int:
        total = 0
        for path in (self._db_path, self._db_path + ".wal"):
            try:
                total += os.path.getsize(path)
            except OSError:
                pass
        return total


__all__ = ["REASONS", "SIGNALS", "CollectorMetrics"]
