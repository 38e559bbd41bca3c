"""``configure()``: the only place infersight builds SDK providers.

OTLP/HTTP (protobuf) exporters for traces and metrics, a bounded batch span processor that
counts drops, and a resource carrying runtime facts. Endpoint, headers, sampler, resource
attributes, the batch processor's ``OTEL_BSP_*`` settings and the metric interval/timeout follow
the standard ``OTEL_*`` variables; explicit arguments win over them (argument > environment >
default, as the SDK does; every variable: :mod:`infersight._env`, docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from infersight.instrument._errors import ConfigurationError
from infersight.instrument._sdk_compat import exporter_endpoint, span_processors
from infersight.instrument.export._health import ensure_visible, watch_exports
from infersight.instrument.export._logs import LogExport
from infersight.instrument.export._otelhist import AugmentingMetricExporter
from infersight.instrument.export._processor import BoundedBatchSpanProcessor
from infersight.instrument.export._settings import BatchSettings, batch_settings, default_export_interval_s
from infersight.instrument.runtime._facts import RuntimeFacts, runtime_facts
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from infersight._version import __version__

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
@dataclass
class TelemetryProviders:
    """What :func:`configure` built; ``shutdown()`` flushes and stops both providers."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    resource: Resource
    facts: RuntimeFacts
    span_processor: BoundedBatchSpanProcessor
    settings: BatchSettings | None = None  # what the batch settings resolved to (argument > env > default)
    logs: LogExport | None = None  # the log export (configure(log_level=...)), else None
    _closed: bool = field(default=False, repr=False)

    def flush(self, timeout_s: float = 5.0) -> None:
        """Export what is queued now (spans, then metrics); providers keep running."""
        if self._closed:
            return
        steps: tuple[Callable[[], object], ...] = (
            lambda: self.tracer_provider.force_flush(int(timeout_s * 1000)),
            lambda: self.meter_provider.force_flush(int(timeout_s * 1000)))
        if self.logs is not None:
            steps = (*steps, lambda: self.logs.flush(timeout_s) if self.logs is not None else None)
        for step in steps:
            try:
                step()
            except Exception:  # telemetry must never fail the caller
                logger.warning("infersight: telemetry flush step failed", exc_info=True)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush and stop, spending at most about ``timeout_s`` per signal (idempotent)."""
        if self._closed:
            return
        self._closed = True
        steps: tuple[Callable[[], object], ...] = (
            lambda: self.span_processor.shutdown(timeout_millis=timeout_s * 1000),
            self.tracer_provider.shutdown,
            lambda: self.meter_provider.shutdown(timeout_millis=timeout_s * 1000))
        if self.logs is not None:
            steps = (*steps, self.logs.close)
        for step in steps:
            try:
                step()
            except Exception:  # telemetry must never fail the caller
                logger.warning("infersight: telemetry shutdown step failed", exc_info=True)


def _check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"OTLP endpoint must be an http(s) URL like {DEFAULT_ENDPOINT!r}, got {endpoint!r}")
    return endpoint.rstrip("/")


def signal_endpoint(endpoint: str | None, signal: str) -> str | None:
    """Full OTLP/HTTP URL for ``signal`` ("traces"|"metrics"), or None to let OTEL_* decide."""
    if endpoint is not None:
        return f"{_check_endpoint(endpoint)}/v1/{signal}"
    if os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None  # the exporter reads the standard variables itself
    return f"{DEFAULT_ENDPOINT}/v1/{signal}"


def configure(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    process_role: str | None = None,
    sampler: Sampler | None = None,
    export_interval_s: float | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_ms: float | None = None,
    export_timeout_s: float | None = None,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    metric_exporter: MetricExporter | None = None,
    log_level: int | str | None = None,
    log_exporter: Any = None,
    set_global: bool = True,
) -> TelemetryProviders:
    """Build a TracerProvider and a MeterProvider exporting OTLP/HTTP protobuf.

    ``endpoint`` is the collector's base URL (``/v1/traces`` and ``/v1/metrics`` are added);
    without it ``OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT`` apply, else
    ``http://127.0.0.1:4318``. ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER[_ARG]``,
    ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` are honoured. ``span_exporter`` /
    ``metric_reader`` replace the OTLP ones (tests, other backends). Each batch setting is the
    argument, else its SDK variable, else infersight's default: ``max_queue_size``
    (``OTEL_BSP_MAX_QUEUE_SIZE``, 2048), ``max_export_batch_size`` (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``,
    512), ``schedule_delay_ms`` (``OTEL_BSP_SCHEDULE_DELAY``, 1000), ``export_timeout_s``
    (``OTEL_BSP_EXPORT_TIMEOUT`` / ``OTEL_METRIC_EXPORT_TIMEOUT`` in ms, the exporters'
    ``OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT``; 10 s) and ``export_interval_s``
    (``OTEL_METRIC_EXPORT_INTERVAL`` in ms, 5 s). The GPU plane's series go out
    on their own 1 s reader (see ``gpu_metric_exporter``). ``log_level`` (e.g. ``"ERROR"``)
    also sends the application's log records at that level and above over OTLP (``/v1/logs``,
    ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``), each with the trace it was logged in: the analysis
    counts a request with an ERROR record as failed (``code_defect``); ``log_exporter`` replaces
    the OTLP one. With ``set_global`` the providers become the global ones, unless the
    application already installed its own (infersight never replaces a user's providers).
    """
    batch = batch_settings(max_queue_size=max_queue_size, max_export_batch_size=max_export_batch_size,
                           schedule_delay_ms=schedule_delay_ms, export_timeout_s=export_timeout_s,
                           export_interval_s=export_interval_s)
    facts = runtime_facts(process_role)
    attrs: dict[str, Any] = dict(facts.resource_attributes())
    attrs.update(resource_attributes or {})
    if service_name:
        attrs["service.name"] = service_name
    resource = Resource.create(attrs)

    if span_exporter is None:
        from infersight.instrument.export._otlp import LeanOTLPSpanExporter

        span_exporter = LeanOTLPSpanExporter(endpoint=signal_endpoint(endpoint, "traces"),
                                         headers=dict(headers) if headers else None,
                                         timeout=batch.exporter_timeout_s)
        _announce(resource, exporter_endpoint(span_exporter))
    processor = BoundedBatchSpanProcessor(
        span_exporter, max_queue_size=batch.max_queue_size, schedule_delay_millis=batch.schedule_delay_ms,
        max_export_batch_size=batch.max_export_batch_size,
        export_timeout_millis=batch.span_export_timeout_s * 1000)
    tracer_provider = OwnedTracerProvider(resource=resource, sampler=sampler)
    tracer_provider.add_span_processor(processor)
    _OWNED[tracer_provider] = processor

    factory = None
    if metric_reader is None:
        if metric_exporter is None:
            metrics_url = signal_endpoint(endpoint, "metrics")
            hdrs = dict(headers) if headers else None
            timeout = batch.exporter_timeout_s

            def factory() -> MetricExporter:
                from infersight.instrument.export._transport import adopt_lean_transport
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

                made = OTLPMetricExporter(endpoint=metrics_url, headers=hdrs, timeout=timeout)
                adopt_lean_transport(made, "metrics")
                return made

            metric_exporter = factory()
        augmenting = AugmentingMetricExporter(metric_exporter, "infersight.instrument", __version__)
        metric_reader = PeriodicExportingMetricReader(
            augmenting, export_interval_millis=batch.export_interval_s * 1000,
            export_timeout_millis=batch.metric_export_timeout_s * 1000)
    else:
        augmenting = None
    meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
    if augmenting is not None:
        _OWNED_METERS[meter_provider] = augmenting
    if factory is not None:
        _EXPORTER_FACTORIES[meter_provider] = (factory, resource)

    if set_global:
        if is_default_provider(trace.get_tracer_provider()):
            trace.set_tracer_provider(tracer_provider)
        else:
            logger.info("a global TracerProvider is already set; infersight leaves it in place")
        if is_default_provider(metrics.get_meter_provider()):
            metrics.set_meter_provider(meter_provider)
        else:
            logger.info("a global MeterProvider is already set; infersight leaves it in place")
    logs = None
    if log_level is not None:
        from infersight.instrument.export._logs import export_logs

        logs = export_logs(log_level, resource=resource, endpoint=signal_endpoint(endpoint, "logs"),
                           headers=headers, timeout_s=batch.exporter_timeout_s, exporter=log_exporter)
    return TelemetryProviders(tracer_provider, meter_provider, resource, facts, processor, batch, logs)


def _announce(resource: Resource, traces_url: Any) -> None:
    """One line: which service sends what where (the app used to say nothing about it); from
    then on failed exports are one warning, not a line per retry (``_exporthealth``)."""
    base = str(traces_url).removesuffix("/v1/traces") if traces_url else "the OTLP endpoint"
    watch_exports(base)
    ensure_visible()
    logger.info("infersight: service %r sends traces and metrics over OTLP/HTTP to %s",
                resource.attributes.get("service.name", "unknown_service"), base)


_OWNED: weakref.WeakKeyDictionary[TracerProvider, BoundedBatchSpanProcessor] = weakref.WeakKeyDictionary()


class OwnedTracerProvider(TracerProvider):
    """The SDK ``TracerProvider`` :func:`configure` builds. Its tracers (every OTel
    instrumentation's: DB-API/sqlite3, httpx, SQLAlchemy, ...) make lean spans
    (:mod:`._leanspan`: ~4x cheaper to make and export than SDK spans, same OTLP bytes) while
    infersight's processor is the only one; once someone adds a processor of their own, or a
    span is started with links, the same tracer makes SDK spans."""

    def get_tracer(self, instrumenting_module_name: str, instrumenting_library_version: str | None = None,
                   schema_url: str | None = None, attributes: Any = None) -> trace.Tracer:
        from infersight.instrument.export._leanspan import LeanApiTracer, lean_tracer_for

        def sdk() -> trace.Tracer:
            return TracerProvider.get_tracer(self, instrumenting_module_name, instrumenting_library_version,
                                             schema_url, attributes)

        if not instrumenting_module_name or getattr(self, "_disabled", False):
            return sdk()  # the SDK's answer: a warning and scope "", or OTEL_SDK_DISABLED's no-op
        # one tracer per scope, as the SDK keeps (libraries that call get_tracer per request)
        key = (instrumenting_module_name, instrumenting_library_version or "", schema_url or "",
               repr(sorted(dict(attributes).items())) if attributes else "")
        cache: dict[Any, trace.Tracer] = self.__dict__.setdefault("_infersight_lean_tracers", {})
        found = cache.get(key)
        if found is not None:
            return found
        lean = lean_tracer_for(self, instrumenting_module_name, instrumenting_library_version or "", schema_url,
                               attributes)
        if lean is None:  # someone added a processor: SDK tracers from now on
            return sdk()
        made = LeanApiTracer(lean, fallback=sdk)
        if len(cache) >= 1024:
            cache.clear()
        cache[key] = made
        return made


def owned_processor(provider: Any) -> BoundedBatchSpanProcessor | None:
    """The bounded processor of a provider built by :func:`configure`, if it is the only one."""
    processor = _OWNED.get(provider) if isinstance(provider, TracerProvider) else None
    if processor is None:
        return None
    listeners = span_processors(provider)
    if listeners is None or listeners != (processor,):
        return None  # someone added a processor: they expect SDK spans
    return processor


_OWNED_METERS: weakref.WeakKeyDictionary[MeterProvider, AugmentingMetricExporter] = weakref.WeakKeyDictionary()


def owned_metric_exporter(provider: Any) -> AugmentingMetricExporter | None:
    """The exporter wrapper of a MeterProvider built by :func:`configure` (local histograms go there)."""
    return _OWNED_METERS.get(provider) if isinstance(provider, MeterProvider) else None


_EXPORTER_FACTORIES: weakref.WeakKeyDictionary[MeterProvider, tuple[Any, Resource]] = \
    weakref.WeakKeyDictionary()


def gpu_metric_exporter(provider: Any) -> tuple[MetricExporter, Resource] | None:
    """For a MeterProvider built by :func:`configure` with its own OTLP exporter: a new exporter
    to the same endpoint (same headers, timeout) and the provider's resource, so the GPU plane
    can export its series on a reader of its own (1 s) while the rest keeps its interval."""
    entry = _EXPORTER_FACTORIES.get(provider) if isinstance(provider, MeterProvider) else None
    if entry is None:
        return None
    factory, resource = entry
    return factory(), resource



def is_default_provider(provider: object) -> bool:
    """True for the API's placeholder providers (nothing configured by the application)."""
    name = type(provider).__name__
    return name.startswith(("Proxy", "NoOp", "_Proxy", "_NoOp"))


__all__ = ["BatchSettings", "TelemetryProviders", "batch_settings", "configure", "signal_endpoint", "is_default_provider", "DEFAULT_ENDPOINT",
           "default_export_interval_s", "gpu_metric_exporter", "OwnedTracerProvider"]
