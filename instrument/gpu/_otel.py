"""OTLP metrics for the GPU plane: observable instruments that read the cached sweep.

Three modes. ``periodic_exporter=`` (what ``install()`` uses when the MeterProvider was built by
``configure()``): a private MeterProvider with its own periodic reader exporting the cached
sweep every ``export_interval_s`` (1 s), so the analysis sees the GPU at 1 s whatever the app's
metric interval. ``metric_exporter=``: a private MeterProvider whose reader is collected right
after every sweep and whose batches are exported every ``export_interval_s`` on a separate
thread, so every sample lands in DuckDB at full resolution; the batch buffer is bounded and
drops (and counts) the oldest batches rather than grow. Neither: instruments on
``meter_provider`` (the global one unless injected), read at that provider's export interval.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from infersight.instrument._sdk_compat import preferred_temporality
from infersight.instrument.gpu._catalog import METRICS
from infersight.instrument.gpu._memory import ALLOC
from infersight.instrument.gpu._series import points
from infersight.instrument.gpu._shares import process_name
from infersight.instrument.gpu._types import Sweep
from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData

if TYPE_CHECKING:
    from infersight.instrument.gpu._attribution import Ledger
    from infersight.instrument.gpu._sampler import GpuSampler

log = logging.getLogger(__name__)

_EXTRA_ATTR = {"direction": "network.io.direction", "type": "error.type",
               "reason": "infersight.gpu.clock_event.reason", "pid": "process.pid",
               "xid": "infersight.gpu.xid", "process_name": "process.executable.name",
               "consumer": "infersight.gpu.consumer", "source": "infersight.gpu.share.source"}


def _attrs(d: Any, extra: tuple[tuple[str, str], ...], name: str) -> dict[str, Any]:
    a: dict[str, Any] = {"hw.id": d.uuid, "hw.name": d.name, "hw.type": "gpu", "gpu.index": d.label}
    if name == "infersight_gpu_utilization_ratio":
        a["hw.gpu.task"] = "general"
    for k, v in extra:
        a[_EXTRA_ATTR[k]] = int(v) if k == "pid" else v
    return a


# OTel hardware semconv instrument types: framebuffer memory in use / size are UpDownCounters
# (non-monotonic sums), not gauges; they land in otel_metrics_sum with IsMonotonic = false.
UP_DOWN_COUNTERS = frozenset({"hw.gpu.memory.usage", "hw.gpu.memory.limit"})

class OtelExport:
    def __init__(self, sampler: GpuSampler, *, ledger: Ledger | None = None,
                 meter_provider: Any = None, metric_exporter: Any = None,
                 export_interval_s: float = 5.0, resource: Any = None,
                 cost_total: Callable[[], float] | None = None, max_batches: int = 1200,
                 periodic_exporter: Any = None) -> None:
        self.sampler = sampler
        self.ledger = ledger
        self.cost_total = cost_total
        self.pid = os.getpid()
        self.process_name = process_name(self.pid)
        self._cache: tuple[int, dict[str, list[Observation]]] = (-1, {})
        self._reader: _SweepReader | None = None
        self._provider: Any = None
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self.export_interval_s = export_interval_s
        self.mode = "provider"
        if metric_exporter is not None or periodic_exporter is not None:
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource

            reader: MetricReader
            if metric_exporter is not None:
                self._reader = reader = _SweepReader(metric_exporter, max_batches)
                self.mode = "full_resolution"
            else:
                reader = PeriodicExportingMetricReader(
                    periodic_exporter, export_interval_millis=export_interval_s * 1000)
                self.mode = "periodic"
            self._provider = MeterProvider(metric_readers=[reader],
                                           resource=resource or Resource.create())
            provider = self._provider
        else:
            provider = meter_provider or otel_metrics.get_meter_provider()
        meter = provider.get_meter("infersight.instrument.gpu")
        for spec in METRICS:
            if spec.otel_name is None:
                continue
            if spec.type == "counter":
                create = meter.create_observable_counter
            elif spec.otel_name in UP_DOWN_COUNTERS:
                create = meter.create_observable_up_down_counter
            else:
                create = meter.create_observable_gauge
            create(spec.otel_name, callbacks=[self._callback(spec.name)], unit=spec.unit,
                   description=spec.help)

    # --- callbacks ------------------------------------------------------------------------
    def _observations(self, sweep: Sweep) -> dict[str, list[Observation]]:
        seq, cached = self._cache
        if seq == sweep.seq and cached:
            return cached
        api = self.sampler.api
        out: dict[str, list[Observation]] = {}
        for name, d, extra, value in points(sweep, api.reasons if api is not None else ()):
            out.setdefault(name, []).append(Observation(value, _attrs(d, extra, name)))
        s = self.sampler
        out["infersight_gpu_up"] = [Observation(1 if sweep.up else 0)]
        if s.available:
            out["infersight_gpu_sweeps"] = [Observation(sweep.seq)]
            out["infersight_gpu_sweep_duration_seconds"] = [Observation(sweep.duration_s)]
            out["infersight_gpu_read_errors"] = [
                Observation(n, {"gpu.index": label, "infersight.gpu.field": f})
                for (label, f), n in s.read_errors.items()]
            if self.ledger is not None:
                c = self.ledger.consumers()
                out["infersight_gpu_attributed_energy_joules"] = [Observation(c.attributed_energy_j)]
                out["infersight_gpu_idle_energy_joules"] = [Observation(c.idle_energy_j)]
                out["infersight_gpu_consumer_energy_joules"] = [
                    Observation(j, {"infersight.gpu.consumer": k}) for k, j in c.energy_j]
                out["infersight_gpu_consumer_seconds"] = [
                    Observation(x, {"infersight.gpu.consumer": k}) for k, x in c.seconds]
                out["infersight_gpu_process_energy_joules"] = [
                    Observation(c.self_energy_j, {"process.pid": self.pid, "process.executable.name":
                                                  self.process_name, "infersight.gpu.consumer": "self"}),
                    *(Observation(j, {"process.pid": pid, "process.executable.name": name,
                                      "infersight.gpu.consumer": "other"})
                      for pid, name, j in c.other_pids)]
            if self.cost_total is not None:
                out["infersight_gpu_attributed_cost_usd"] = [Observation(self.cost_total())]
        alloc = ALLOC.series()
        if s.available or any(n for _, _, n in alloc):  # no GPU: only once one happened
            out["infersight_gpu_allocation_failures"] = [
                Observation(n, {"infersight.gpu.alloc_failure.kind": kind,
                                "infersight.gpu.alloc_failure.source": source})
                for kind, source, n in alloc]
        self._cache = (sweep.seq, out)
        return out

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def cb(options: CallbackOptions) -> Iterable[Observation]:
            try:
                return self._observations(self.sampler.last).get(name, [])
            except Exception:  # telemetry never raises into the SDK
                log.debug("GPU observation failed", exc_info=True)
                return []
        return cb

    # --- full-resolution mode -------------------------------------------------------------
    def start(self) -> None:
        if self._reader is None:
            return
        reader = self._reader
        self.sampler.add_listener(lambda sweep: reader.collect())
        self._flusher = threading.Thread(target=self._flush_loop, name="infersight-gpu-otlp",
                                         daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        assert self._reader is not None
        while not self._stop.wait(self.export_interval_s):
            self._reader.flush()

    def flush(self) -> None:
        """Export now what the plane's own provider holds (no-op on an injected provider)."""
        if self._provider is None:
            return
        if self._reader is not None:
            self._reader.collect()
            self._reader.flush()
        else:
            self._provider.force_flush(5_000)

    @property
    def dropped_batches(self) -> int:
        return 0 if self._reader is None else self._reader.dropped

    def shutdown(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5.0)
            self._flusher = None
        if self._provider is not None:
            if self._reader is not None:
                self._reader.flush()
            self._provider.shutdown()
            self._provider = None


class _SweepReader(MetricReader):
    """Collected after every sweep; batches MetricsData and exports them together."""

    def __init__(self, exporter: Any, max_batches: int) -> None:
        super().__init__(preferred_temporality=preferred_temporality(exporter))
        self._exporter = exporter
        self._batches: deque[Any] = deque()
        self._max = max_batches
        self._lock = threading.Lock()
        self.dropped = 0
        self.exported_batches = 0

    def _receive_metrics(self, metrics_data: Any, timeout_millis: float = 10_000,
                         **kwargs: Any) -> None:
        with self._lock:
            if len(self._batches) >= self._max:
                self._batches.popleft()
                self.dropped += 1
            self._batches.append(metrics_data)

    def flush(self) -> None:
        with self._lock:
            batches, self._batches = list(self._batches), deque()
        if not batches:
            return
        merged = MetricsData(resource_metrics=[rm for b in batches for rm in b.resource_metrics])
        try:
            self._exporter.export(merged, timeout_millis=10_000)
            self.exported_batches += len(batches)
        except Exception:
            log.warning("GPU OTLP export failed; %d sweep(s) dropped", len(batches), exc_info=True)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self._exporter.shutdown()
        except Exception:
            pass


__all__ = ["OtelExport"]
