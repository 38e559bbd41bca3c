"""What one ``instrument_app`` call set up; the middleware reads it, ``uninstrument_app`` tears it down."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from infersight.instrument._exposition import Exposition
from infersight.instrument._gc import GcMonitor
from infersight.instrument._health import Readiness
from infersight.instrument._hooks import RequestHook
from infersight.instrument._loop import LoopLagMonitor
from infersight.instrument._metrics import OtelInstruments, PromMetrics
from opentelemetry.trace import Tracer

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Instrumentation:
    mode: str
    tracer: Tracer | None            # None in contrib mode (the contrib middleware makes the span)
    prom: PromMetrics
    otel: OtelInstruments | None      # None: HTTP duration is recorded by contrib instead
    exposition: Exposition
    readiness: Readiness
    live_path: str | None
    ready_path: str | None
    metrics_path: str | None
    trace_health: bool = False
    capture_query: bool = False       # url.query values are redacted unless opted in
    capture_paths: bool = False       # unmatched requests' url.path becomes /{unmatched} unless opted in
    gc: GcMonitor | None = None
    loop: LoopLagMonitor | None = None
    hooks: list[RequestHook] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    enabled: bool = True
    owned_telemetry: Any = None       # the Telemetry from configure(), when instrument_app built it
    restore: list[Any] = field(default_factory=list)
    lean: Any = None                  # a LeanTracer when the provider is infersight's own
    local_http: Any = None            # a LocalHistogram when the MeterProvider is infersight's own
    flushers: list[Any] = field(default_factory=list)  # run at lifespan shutdown (owned exporters)

    def flush(self) -> None:
        """Export what infersight's own exporters still hold (each bounded by its timeout)."""
        for fn in self.flushers:
            try:
                fn()
            except Exception:
                logger.warning("infersight: a telemetry flush failed", exc_info=True)

    def hook_failed(self, name: str) -> None:
        try:
            self.prom["infersight_hook_errors"].labels(name).inc()
        except Exception:  # pragma: no cover - the counter itself must not fail the request
            logger.debug("could not count a hook error", exc_info=True)


__all__ = ["Instrumentation"]
