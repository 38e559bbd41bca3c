"""What one ``instrument_app`` call set up; the middleware reads it, ``uninstrument_app`` tears it down."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from infersight.instrument.http._exposition import Exposition
from infersight.instrument.http._health import Readiness
from infersight.instrument.http._hooks import RequestHook
from infersight.instrument.metrics._families import OtelInstruments, PromMetrics
from infersight.instrument.runtime._gc import GcMonitor
from infersight.instrument.runtime._loop import LoopLagMonitor
from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from infersight.instrument.export._configure import TelemetryProviders
    from infersight.instrument.export._leanspan import LeanTracer
    from infersight.instrument.export._otelhist import LocalHistogram

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Instrumentation:
    """What one :func:`instrument_app` call set up (``instrumentation_of(app)`` returns it).

    Public: ``mode``, the paths, ``hooks`` (append a :class:`RequestHook` to annotate request
    spans), :attr:`lean_spans`, :attr:`owned_telemetry` and :meth:`flush`. Everything with a
    leading underscore is the teardown bookkeeping of ``uninstrument_app``.
    """

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
    enabled: bool = True
    _owned_telemetry: TelemetryProviders | None = None  # when instrument_app built the providers
    _closers: list[Callable[[], object]] = field(default_factory=list)
    _restore: list[Callable[[], object]] = field(default_factory=list)
    _lean: LeanTracer | None = None             # when the provider is infersight's own
    _local_http: LocalHistogram | None = None   # when the MeterProvider is infersight's own
    _flushers: list[Callable[[], object]] = field(default_factory=list)  # run at lifespan shutdown

    @property
    def lean_spans(self) -> bool:
        """True when SERVER spans take the lean path (infersight built the TracerProvider)."""
        return self._lean is not None

    @property
    def owned_telemetry(self) -> TelemetryProviders | None:
        """The providers :func:`configure` built for this app (None when they were given or global)."""
        return self._owned_telemetry

    def flush(self) -> None:
        """Export what infersight's own exporters still hold (each bounded by its timeout)."""
        for fn in self._flushers:
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
