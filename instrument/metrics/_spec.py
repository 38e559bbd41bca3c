"""One metric family's spec (:class:`MetricSpec`); the lists of specs import it from here, and
:mod:`infersight.instrument.metrics.catalog` joins them (no part imports the catalog to declare a metric)."""

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


__all__ = ["MetricSpec", "MetricType"]
