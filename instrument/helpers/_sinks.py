"""Resolve injected-or-global providers for the helpers (jobs, caches, pools), at call time."""

from __future__ import annotations

import weakref
from typing import Any

from infersight.instrument.metrics._families import (
    OtelInstruments,
    PromMetrics,
    otel_instruments,
    prom_metrics,
)
from opentelemetry import metrics, trace
from prometheus_client import CollectorRegistry

from infersight._version import __version__

SCOPE = "infersight.instrument"
# provider -> the tracer helpers use with it: a lean one when infersight built the provider
_TRACERS: weakref.WeakKeyDictionary[Any, trace.Tracer] = weakref.WeakKeyDictionary()



def tracer_for(provider: trace.TracerProvider) -> trace.Tracer:
    """The helpers' tracer for ``provider``: its spans take the lean path when the provider was
    built by ``configure()`` and nothing else listens to it (same scope as the request spans)."""
    found = _TRACERS.get(provider)
    if found is None:
        from infersight.instrument.export._configure import is_default_provider

        # configure()'s provider (OwnedTracerProvider) answers with a lean tracer itself; a
        # ProxyTracerProvider is asked every time (it follows a later configure())
        found = provider.get_tracer(SCOPE, __version__)
        if is_default_provider(provider):
            return found
        try:
            _TRACERS[provider] = found
        except TypeError:  # a provider that cannot be weakly referenced: look it up each time
            pass
    return found


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
                self._tracer = tracer_for(self._tp)
            return self._tracer  # type: ignore[no-any-return]
        return tracer_for(trace.get_tracer_provider())  # global: a ProxyTracer until configured

    @property
    def prom(self) -> PromMetrics:
        return prom_metrics(self._registry)

    @property
    def otel(self) -> OtelInstruments:
        return otel_instruments(self._mp)


__all__ = ["Sinks", "SCOPE", "tracer_for"]
