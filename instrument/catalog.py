"""The metric catalog: the one source of truth for every metric name infersight emits.

Dashboards (``dashboards/build.py --check``), Prometheus rules and ``docs/metrics.md`` are
generated from or checked against :data:`CATALOG`. Each part owns its own list:
``_catalog_runtime.py`` (HTTP, Python runtime, jobs, caches, exporter health),
``gpu/_catalog.py`` (NVML) and ``_catalog_collector.py`` (the collector's own health, served by
``infersight collect``). Add a metric there first, then emit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric family.

    ``name`` is the Prometheus family name as exposed on ``/metrics`` (counters without the
    ``_total`` suffix, which prometheus_client adds); ``otel_name`` the OTLP/semconv name it
    has in DuckDB (``MetricName`` column), or ``None`` when it is Prometheus-only.
    """

    name: str
    type: MetricType
    help: str
    unit: str = ""
    labels: tuple[str, ...] = ()
    otel_name: str | None = None
    source: str = "runtime"
    buckets: tuple[float, ...] | None = field(default=None, compare=False)

    def series_names(self) -> tuple[str, ...]:
        """Every sample name this family can expose in the Prometheus text format."""
        if self.type == "counter":
            return (f"{self.name}_total", f"{self.name}_created")
        if self.type == "histogram":
            return tuple(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count", "_created"))
        if self.type == "info":
            return (f"{self.name}_info",)
        return (self.name,)


def _load() -> tuple[MetricSpec, ...]:
    from infersight.instrument._catalog_collector import METRICS as collector
    from infersight.instrument._catalog_runtime import METRICS as runtime
    from infersight.instrument.gpu._catalog import METRICS as gpu

    specs = (*runtime, *gpu, *collector)
    names = [s.name for s in specs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:  # pragma: no cover - guarded by tests
        raise RuntimeError(f"duplicate metric names in catalog: {sorted(dupes)}")
    return specs


CATALOG: tuple[MetricSpec, ...] = _load()
BY_NAME: dict[str, MetricSpec] = {s.name: s for s in CATALOG}


def all_series_names() -> frozenset[str]:
    return frozenset(n for s in CATALOG for n in s.series_names())


__all__ = ["CATALOG", "BY_NAME", "MetricSpec", "MetricType", "all_series_names"]
