"""``install()``: the GPU plane for a model server (sampler + exporters + request hook)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from infersight.instrument.gpu._attribution import (
    Attribution,
    Ledger,
    RequestState,
    reset_current,
    set_current,
)
from infersight.instrument.gpu._cost import PriceChoice, resolve_price
from infersight.instrument.gpu._errors import GpuConfigError
from infersight.instrument.gpu._memory import ALLOC, torch_alloc_stats
from infersight.instrument.gpu._otel import OtelExport
from infersight.instrument.gpu._prom import GpuCollector
from infersight.instrument.gpu._sampler import GpuSampler
from infersight.instrument.gpu._types import Sweep
from infersight.instrument.runtime._device import MODEL_DEVICES, ModelDevice
from opentelemetry.trace import Span

log = logging.getLogger(__name__)

_KNOWN_OPTS = {"slow_interval_s", "energy_interval_s", "util_interval_s", "devices", "pcie", "split",
               "metric_exporter", "export_interval_s", "resource", "clock", "self_pids",
               "no_gpu_work_after_s", "torch_stats"}
DEFAULT_EXPORT_INTERVAL_S = 1.0


class GpuRequestHook:
    """The RequestHook (``infersight.instrument.http._hooks``) that attributes GPU use to spans."""

    def __init__(self, plane: GpuPlane) -> None:
        self._plane = plane

    def on_request_start(self, span: Span, start_ns: int) -> Any:
        plane = self._plane
        if not plane.sampler.available or plane.closed:
            return None
        st = plane.ledger.begin(start_ns)
        st.ctx_token = set_current(st)
        return st

    def on_request_end(self, span: Span, state: Any, start_ns: int, end_ns: int) -> None:
        if not isinstance(state, RequestState):
            return
        reset_current(state.ctx_token)
        a = state.ledger.end(state, end_ns)
        self._plane.record(span, a)


def _device_summary(models: tuple[ModelDevice, ...]) -> str:
    return ",".join(sorted({m.device for m in models}))


class GpuPlane:
    """What ``install()`` returns: ``.hook`` for the request middleware, ``.shutdown()``."""

    def __init__(self, sampler: GpuSampler, ledger: Ledger, price: PriceChoice,
                 export: OtelExport | None = None,
                 torch_stats: Callable[[], tuple[int, int] | None] = torch_alloc_stats) -> None:
        self.sampler = sampler
        self.ledger = ledger
        self.price = price
        self.export = export
        self.hook = GpuRequestHook(self)
        self.closed = False
        self.collector: GpuCollector | None = None
        self._registry: Any = None
        self._cost_lock = threading.Lock()
        self.attributed_cost_usd = 0.0
        self.model_device = _device_summary(MODEL_DEVICES.snapshot())
        self._torch_stats = torch_stats
        self._torch_failed = False
        ledger.set_model_on_gpu(MODEL_DEVICES.on_gpu())

    @property
    def up(self) -> bool:
        return self.sampler.last.up

    def cost_total(self) -> float:
        return self.attributed_cost_usd

    # --- listeners ------------------------------------------------------------------------
    def on_model_device(self, new: ModelDevice, previous: str) -> None:
        """A declared model changed device: bill from now on accordingly (any thread)."""
        self.model_device = _device_summary(MODEL_DEVICES.snapshot())
        self.ledger.set_model_on_gpu(MODEL_DEVICES.on_gpu())

    def on_sweep(self, sweep: Sweep) -> None:
        """Slow sweeps (sampler thread): torch's allocator counters and the model device."""
        if not sweep.slow:
            return
        on_gpu = MODEL_DEVICES.on_gpu()
        if on_gpu != self.ledger.model_on_gpu:
            self.ledger.set_model_on_gpu(on_gpu, sweep.t_ns)
        if self._torch_failed:
            return
        try:
            stats = self._torch_stats()
        except Exception:
            self._torch_failed = True  # logged once, never retried
            log.info("infersight GPU plane: torch.cuda.memory_stats failed; OOM counts from "
                     "torch are off", exc_info=True)
            return
        if stats is not None:
            ALLOC.set_torch(*stats)

    def record(self, span: Span, a: Attribution) -> None:
        """Set the attribution on a (still open) span."""
        attrs: dict[str, Any] = {
            "infersight.gpu.energy_j": a.energy_j,
            "infersight.gpu.seconds": a.gpu_seconds,
            "infersight.gpu.busy_seconds": a.busy_seconds,
            "infersight.gpu.throttled": a.throttled,
            "infersight.gpu.samples": a.samples,
            "infersight.gpu.split": self.ledger.split,
            "infersight.gpu.work": a.gpu_work,
        }
        if a.share_source:
            attrs["infersight.gpu.share_source"] = a.share_source
        for key, value in (("infersight.gpu.util_mean", a.util_mean),
                           ("infersight.gpu.self_util_mean", a.self_util_mean),
                           ("infersight.gpu.other_util_mean", a.other_util_mean),
                           ("infersight.gpu.power_mean_w", a.power_mean_w),
                           ("infersight.gpu.memory_used_max_bytes", a.memory_used_max),
                           ("infersight.gpu.memory_total_bytes", a.memory_total)):
            if value is not None:
                attrs[key] = value
        if a.ooms:
            attrs["infersight.gpu.ooms"] = a.ooms
        if a.alloc_retries:
            attrs["infersight.gpu.alloc_retries"] = a.alloc_retries
        if self.model_device:
            attrs["infersight.model.device"] = self.model_device
        if a.reasons:
            attrs["infersight.gpu.clock_event_reasons"] = list(a.reasons)
        if a.tokens:
            attrs["infersight.gpu.tokens"] = a.tokens
        price = self.price.usd_per_gpu_hour
        if price is not None:
            cost = a.gpu_seconds * price / 3600.0
            attrs["infersight.gpu.cost_usd"] = cost
            if a.tokens:
                attrs["infersight.gpu.cost_per_1k_tokens_usd"] = cost * 1000.0 / a.tokens
            with self._cost_lock:
                self.attributed_cost_usd += cost
        if not span.is_recording():
            return
        span.set_attributes(attrs)
        if a.throttled:
            span.add_event("infersight.gpu.throttled",
                           {"infersight.gpu.clock_event_reasons": list(a.reasons)})
        if a.xid_errors:
            span.add_event("infersight.gpu.xid_error", {"infersight.gpu.xid_errors": a.xid_errors})

    def flush(self) -> None:
        """Export the GPU series held by the plane's own OTLP reader now (lifespan shutdown)."""
        if self.export is not None and not self.closed:
            self.export.flush()

    def shutdown(self) -> None:
        """Stop the sampler and exporters and unregister the collector (idempotent)."""
        if self.closed:
            return
        self.closed = True
        MODEL_DEVICES.remove_listener(self.on_model_device)
        self.sampler.stop()
        if self._registry is not None and self.collector is not None:
            try:
                self._registry.unregister(self.collector)
            except KeyError:
                pass


def _export_interval_s(opts: dict[str, Any]) -> float:
    value = opts.get("export_interval_s")
    if value is None:
        raw = os.environ.get("INFERSIGHT_GPU_EXPORT_INTERVAL")
        try:
            value = float(raw) / 1000.0 if raw else DEFAULT_EXPORT_INTERVAL_S
        except ValueError:
            log.warning("infersight: INFERSIGHT_GPU_EXPORT_INTERVAL=%r is not a number of ms", raw)
            value = DEFAULT_EXPORT_INTERVAL_S
    if not isinstance(value, (int, float)) or not value > 0:
        raise GpuConfigError(f"export_interval_s must be > 0, got {value!r}")
    return float(value)


def make_export(sampler: GpuSampler, meter_provider: Any, opts: dict[str, Any], *,
                ledger: Ledger | None = None,
                cost_total: Callable[[], float] | None = None) -> OtelExport:
    """The plane's OTLP export: ``metric_exporter`` -> every sweep; a MeterProvider built by
    ``configure()`` -> a reader of its own every ``export_interval_s`` (1 s, or
    ``INFERSIGHT_GPU_EXPORT_INTERVAL`` ms); any other provider -> its own interval."""
    from infersight.instrument.export._configure import gpu_metric_exporter
    from opentelemetry import metrics as otel_metrics

    interval = _export_interval_s(opts)
    exporter = opts.get("metric_exporter")
    periodic = resource = None
    if exporter is None:
        made = gpu_metric_exporter(meter_provider or otel_metrics.get_meter_provider())
        if made is not None:
            periodic, resource = made
    return OtelExport(sampler, ledger=ledger, meter_provider=meter_provider,
                      metric_exporter=exporter, periodic_exporter=periodic,
                      export_interval_s=interval, resource=opts.get("resource") or resource,
                      cost_total=cost_total)


def install(*, tracer_provider: Any = None, meter_provider: Any = None, registry: Any = None,
            nvml: Any = None, interval_s: float = 0.1, price_per_gpu_hour: float | None = None,
            instance_type: str | None = None, **opts: Any) -> GpuPlane:
    """Start the GPU plane: NVML sampler thread, Prometheus collector on ``registry`` (default
    the global ``REGISTRY``), OTel instruments (see below) and a request hook that puts
    per-request energy/GPU-seconds/cost and what the GPU did during the request on spans.

    Options: ``slow_interval_s`` (1.0), ``util_interval_s`` (0.2: the driver refreshes utilisation
    every 200 ms), ``energy_interval_s`` (10.0), ``devices`` (NVML indices; default all), ``pcie``
    (False: NVML's PCIe counters take ~20 ms a read),
    ``split`` ("equal" or "tokens"), ``self_pids`` (more pids that count as this server when the
    GPU is shared: engine workers, the host pid of a containerised server), ``no_gpu_work_after_s``
    (1.0: serving time with this process's GPU utilisation at 0 after which its requests are
    billed no GPU time), ``export_interval_s`` (1.0; ``INFERSIGHT_GPU_EXPORT_INTERVAL`` ms),
    ``metric_exporter`` (every sweep over OTLP), ``resource``, ``clock``, ``torch_stats``.
    OTLP: with a MeterProvider built by ``configure()`` the GPU series get a reader of their own
    every ``export_interval_s``; with ``metric_exporter`` every sweep is exported; otherwise they
    follow the injected provider's interval. No GPU/driver/pynvml: one WARNING, ``up`` 0, the
    hook does nothing. ``tracer_provider`` is accepted for symmetry: the hook annotates the
    middleware's span and creates none.
    """
    unknown = set(opts) - _KNOWN_OPTS
    if unknown:
        raise GpuConfigError(f"unknown GPU plane option(s): {sorted(unknown)}")
    clock: Callable[[], int] = opts.get("clock") or time.time_ns
    devices: Sequence[int] | None = opts.get("devices")
    sampler = GpuSampler(nvml=nvml, interval_s=interval_s,
                         slow_interval_s=opts.get("slow_interval_s", 1.0),
                         energy_interval_s=opts.get("energy_interval_s", 10.0),
                         util_interval_s=opts.get("util_interval_s", 0.2), devices=devices,
                         clock=clock, pcie=bool(opts.get("pcie", False)),
                         self_pids=tuple(opts.get("self_pids") or ()))
    ledger = Ledger(split=opts.get("split", "equal"), clock=clock,
                    no_gpu_work_after_s=opts.get("no_gpu_work_after_s", 1.0))
    resolve_price(price_per_gpu_hour, instance_type)  # validate before starting anything
    _export_interval_s(opts)
    sampler.open()
    names = sampler.device_names
    if sampler.api is not None:
        ledger.bits = sampler.api.reasons
    price = resolve_price(price_per_gpu_hour, instance_type, names)
    plane = GpuPlane(sampler, ledger, price, torch_stats=opts.get("torch_stats") or torch_alloc_stats)
    sampler.add_listener(ledger.on_sweep)
    sampler.add_listener(plane.on_sweep)
    MODEL_DEVICES.add_listener(plane.on_model_device)
    export = make_export(sampler, meter_provider, opts, ledger=ledger, cost_total=plane.cost_total)
    plane.export = export
    sampler.on_stop(export.shutdown)
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    plane.collector = GpuCollector(sampler, ledger=ledger, price=price, cost_total=plane.cost_total)
    registry.register(plane.collector)
    plane._registry = registry
    if sampler.available:
        export.start()
        sampler.start()
        log.info("infersight GPU plane: %d device(s) at %.0f Hz, price %s/GPU-h (%s), OTLP %s "
                 "every %.1f s", len(names), 1.0 / sampler.interval_s, price.usd_per_gpu_hour,
                 price.source, export.mode, export.export_interval_s)
    return plane


__all__ = ["GpuPlane", "GpuRequestHook", "install", "make_export"]
