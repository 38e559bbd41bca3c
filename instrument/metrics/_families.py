"""Prometheus families and OTel instruments built from the catalog, one set per registry/provider.

Both are cached per registry / meter provider, so several apps, the GC monitor and the
cache/job/pool helpers share the same families (prometheus_client refuses duplicates).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import prometheus_client
from infersight.instrument.export._processor import dropped_spans_total
from infersight.instrument.metrics._runtime_specs import METRICS
from infersight.instrument.metrics._spec import MetricSpec
from infersight.instrument.runtime._device import MODEL_DEVICES, torch_cuda_available
from opentelemetry import metrics as otel_metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

SPECS: dict[str, MetricSpec] = {s.name: s for s in METRICS}
_SCOPE = "infersight.instrument"
_GAUGE_MODES = {"http_server_active_requests": "livesum", "infersight_ready": "livemin",
                "infersight_gc_last_long_pause_start_seconds": "livemax",
                "infersight_runtime_info": "livemax"}
_KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
                            "QUERY", "TRACE"})


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def normalize_method(method: str) -> str:
    """Semconv: methods outside the known set become ``_OTHER`` (keeps label cardinality bounded)."""
    return method if method in _KNOWN_METHODS else "_OTHER"


def status_class(code: int) -> str:
    return f"{code // 100}xx" if 100 <= code < 600 else "unknown"


class _DroppedSpansCollector(Collector):
    def collect(self) -> Any:
        spec = SPECS["infersight_exporter_dropped_spans"]
        yield CounterMetricFamily(spec.name, spec.help, value=dropped_spans_total())


_COLLECTED = frozenset({"infersight_exporter_dropped_spans", "infersight_model_device",
                        "infersight_torch_cuda_available"})


class _ModelDeviceCollector(Collector):
    """The model device facts, re-read (``MODEL_DEVICES.poll()``) at every scrape."""

    def collect(self) -> Any:
        spec = SPECS["infersight_model_device"]
        fam = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
        for m in MODEL_DEVICES.poll():
            fam.add_metric([m.name, m.device, m.type, m.source], 1.0)
        yield fam
        spec = SPECS["infersight_torch_cuda_available"]
        cuda = GaugeMetricFamily(spec.name, spec.help)
        available = torch_cuda_available()
        if available is not None:
            cuda.add_metric([], 1.0 if available else 0.0)
        yield cuda


def model_device_observations() -> list[otel_metrics.Observation]:
    return [otel_metrics.Observation(1, {"infersight.model.name": m.name,
                                         "infersight.model.device": m.device,
                                         "infersight.model.device.type": m.type,
                                         "infersight.model.device.source": m.source})
            for m in MODEL_DEVICES.poll()]


class PromMetrics:
    """Every runtime family of the catalog, registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        multiproc = multiprocess_dir() is not None
        fams: dict[str, Any] = {}
        for spec in METRICS:
            # collectors of their own (dropped spans, model devices); CPU is OTLP-only
            # (prometheus_client's process collector already has process_cpu_seconds_total)
            if spec.name in _COLLECTED or spec.source == "host":
                continue
            kwargs: dict[str, Any] = {"labelnames": spec.labels, "registry": registry}
            if spec.type == "counter":
                fams[spec.name] = Counter(spec.name, spec.help, **kwargs)
            elif spec.type == "histogram":
                fams[spec.name] = Histogram(spec.name, spec.help, buckets=spec.buckets or
                                            Histogram.DEFAULT_BUCKETS, **kwargs)
            elif spec.type == "gauge":
                mode = _GAUGE_MODES.get(spec.name, "livesum")
                fams[spec.name] = Gauge(spec.name, spec.help, multiprocess_mode=mode, **kwargs)  # type: ignore[arg-type]
            elif multiproc:  # Info does not work in multiprocess mode: same samples via a gauge
                fams[spec.name] = Gauge(f"{spec.name}_info", spec.help, multiprocess_mode="livemax",
                                        **kwargs)
            else:
                fams[spec.name] = Info(spec.name, spec.help, registry=registry)  # labels = info keys
        self.families = fams
        self._dropped = _DroppedSpansCollector()
        registry.register(self._dropped)
        self._devices = _ModelDeviceCollector()
        registry.register(self._devices)
        self._http_children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._active_children: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return self.families[name]

    def http_children(self, method: str, route: str, klass: str) -> tuple[Any, Any, Any]:
        key = (method, route, klass)
        children = self._http_children.get(key)
        if children is None:
            children = (
                self.families["http_server_request_duration_seconds"].labels(method, route, klass),
                self.families["http_server_requests"].labels(method, route, klass),
                self.families["http_server_response_body_size_bytes"].labels(method, route, klass),
            )
            self._http_children[key] = children
        return children

    def active(self, method: str) -> Any:
        child = self._active_children.get(method)
        if child is None:
            child = self._active_children[method] = self.families["http_server_active_requests"].labels(method)
        return child


class OtelInstruments:
    """OTLP instruments (semconv names) for everything that must land in DuckDB."""

    def __init__(self, meter_provider: otel_metrics.MeterProvider) -> None:
        from infersight.instrument.export._configure import owned_metric_exporter
        from infersight.instrument.export._otelhist import (
            LocalCounter,
            LocalHistogram,
            LocalHistogramInstrument,
        )

        from infersight._version import __version__

        meter = meter_provider.get_meter(_SCOPE, __version__)
        self.meter = meter
        # infersight's own MeterProvider: per-event instruments aggregate in-process (~1 µs a
        # measurement instead of the SDK's ~6-10) and are added to each export (see _otelhist)
        local = owned_metric_exporter(meter_provider)

        def hist(name: str, per_event: bool = True) -> Any:
            spec = SPECS[name]
            assert spec.otel_name is not None
            if local is not None and per_event:
                made = LocalHistogram(spec.otel_name, spec.unit or "1", spec.help, spec.buckets or ())
                local.sources.append(made)
                return LocalHistogramInstrument(made)
            return meter.create_histogram(spec.otel_name, unit=spec.unit or "1", description=spec.help,
                                          explicit_bucket_boundaries_advisory=list(spec.buckets or ()))

        def counter(name: str) -> Any:
            spec = SPECS[name]
            assert spec.otel_name is not None
            if local is not None:
                made = LocalCounter(spec.otel_name, spec.unit or "1", spec.help)
                local.sources.append(made)
                return made
            return meter.create_counter(spec.otel_name, unit=spec.unit or "1", description=spec.help)

        # the middleware keeps its own local histogram per instrumented app (instrument_app)
        self.http_duration = hist("http_server_request_duration_seconds", per_event=False)
        self.gc_pause = hist("infersight_gc_pause_duration_seconds")
        self.gc_collections = counter("cpython_gc_collections")
        self.gc_collected = counter("cpython_gc_collected_objects")
        self.gc_uncollectable = counter("cpython_gc_uncollectable_objects")
        self.gc_last_long_pause = meter.create_gauge(
            "infersight.gc.last_long_pause.start", unit="s",
            description=SPECS["infersight_gc_last_long_pause_start_seconds"].help)
        self.loop_lag = hist("infersight_event_loop_lag_seconds")
        self.loop_blocked = counter("infersight_event_loop_blocked")
        self.job_duration = hist("infersight_job_duration_seconds")
        self.job_rows = counter("infersight_job_rows")
        self.job_bytes = counter("infersight_job_bytes")
        self.cache_requests = counter("infersight_cache_requests")
        self.cache_miss_duration = hist("infersight_cache_miss_duration_seconds")
        self.pool_wait = hist("db_client_connection_wait_time_seconds")
        self.pool_timeouts = counter("db_client_connection_timeouts")
        self.gen_ai_ttft = hist("gen_ai_server_time_to_first_token_seconds")
        self.gen_ai_tokens = hist("gen_ai_client_token_usage")

        def _dropped(_options: Any) -> Any:
            yield otel_metrics.Observation(dropped_spans_total())

        meter.create_observable_counter("infersight.exporter.dropped_spans", callbacks=[_dropped],
                                        unit="1", description=SPECS["infersight_exporter_dropped_spans"].help)
        from infersight.instrument.runtime import _cpu

        _cpu.register(meter)

        def _devices(_options: Any) -> Any:
            try:
                return model_device_observations()
            except Exception:  # telemetry never raises into the SDK
                return []

        def _cuda(_options: Any) -> Any:
            available = torch_cuda_available()
            return [] if available is None else [otel_metrics.Observation(1 if available else 0)]

        meter.create_observable_gauge("infersight.model.device", callbacks=[_devices], unit="1",
                                      description=SPECS["infersight_model_device"].help)
        meter.create_observable_gauge("infersight.torch.cuda.available", callbacks=[_cuda], unit="1",
                                      description=SPECS["infersight_torch_cuda_available"].help)


_lock = threading.Lock()
_prom_cache: weakref.WeakKeyDictionary[CollectorRegistry, PromMetrics] = weakref.WeakKeyDictionary()
_otel_cache: weakref.WeakKeyDictionary[Any, OtelInstruments] = weakref.WeakKeyDictionary()


def prom_metrics(registry: CollectorRegistry | None = None) -> PromMetrics:
    reg = registry if registry is not None else prometheus_client.REGISTRY
    with _lock:
        found = _prom_cache.get(reg)
        if found is None:
            found = _prom_cache[reg] = PromMetrics(reg)
        return found


def otel_instruments(meter_provider: otel_metrics.MeterProvider | None = None) -> OtelInstruments:
    mp = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
    with _lock:
        found = _otel_cache.get(mp)
        if found is None:
            found = _otel_cache[mp] = OtelInstruments(mp)
        return found


__all__ = ["PromMetrics", "OtelInstruments", "prom_metrics", "otel_instruments", "normalize_method",
           "status_class", "multiprocess_dir", "SPECS"]
