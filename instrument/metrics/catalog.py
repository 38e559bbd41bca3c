"""The metric catalog: the one source of truth for every metric name infersight emits.

Dashboards (``dashboards/build.py --check``), Prometheus rules and ``docs/metrics.md`` are
generated from or checked against :data:`CATALOG`. Each part owns its own list:
``_catalog_runtime.py`` (HTTP, Python runtime, jobs, caches, exporter health),
``gpu/_catalog.py`` (NVML) and ``_catalog_collector.py`` (the collector's own health, served by
``infersight collect``). Add a metric there first, then emit it.
"""

from __future__ import annotations

from infersight.instrument.gpu._catalog import METRICS as _GPU
from infersight.instrument.metrics._collector_specs import METRICS as _COLLECTOR
from infersight.instrument.metrics._runtime_specs import METRICS as _RUNTIME
from infersight.instrument.metrics._spec import MetricSpec, MetricType


def _load() -> tuple[MetricSpec, ...]:
    runtime, gpu, collector = _RUNTIME, _GPU, _COLLECTOR
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
