"""Resolve injected-or-global providers for the helpers (jobs, caches, pools), at call time."""

from __future__ import annotations

from typing import Any

from infersight.instrument.metrics._families import (
    OtelInstruments,
    PromMetrics,
    otel_instruments,
    prom_metrics,
)
from opentelemetry import metrics, trace
from prometheus_client import CollectorRegistry

SCOPE = "infersight.instrument"


class Sinks:
    """Where a helper reports: a tracer, the Prometheus families and the OTel instruments.

    ``None`` arguments mean "the global one, looked up when first used" (so a helper created
    at import time follows a ``configure()`` that runs later).
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        self._tp = tracer_provider
        self._mp = meter_provider
        self._registry = registry
        self._tracer: Any = None

    @property
    def tracer(self) -> trace.Tracer:
        if self._tp is not None:
            if self._tracer is None:
                self._tracer = self._tp.get_tracer(SCOPE)
            return self._tracer  # type: ignore[no-any-return]
        return trace.get_tracer(SCOPE)  # global: a ProxyTracer until configured

    @property
    def prom(self) -> PromMetrics:
        return prom_metrics(self._registry)

    @property
    def otel(self) -> OtelInstruments:
        return otel_instruments(self._mp)


__all__ = ["Sinks", "SCOPE"]
