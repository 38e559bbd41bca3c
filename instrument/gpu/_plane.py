"""``install()``: the GPU plane for a model server (sampler + exporters + request hook)."""

from __future__ import annotations

import logging
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
from infersight.instrument.gpu._otel import OtelExport
from infersight.instrument.gpu._prom import GpuCollector
from infersight.instrument.gpu._sampler import GpuSampler
from opentelemetry.trace import Span

log = logging.getLogger(__name__)

_KNOWN_OPTS = {"slow_interval_s", "energy_interval_s", "util_interval_s", "devices", "pcie", "split", "metric_exporter", "export_interval_s",
               "resource", "clock"}


class GpuRequestHook:
    """The RequestHook (``infersight.instrument._hooks``) that attributes GPU use to spans."""

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


class GpuPlane:
    """What ``install()`` returns: ``.hook`` for the request middleware, ``.shutdown()``."""

    def __init__(self, sampler: GpuSampler, ledger: Ledger, price: PriceChoice,
                 export: OtelExport | None = None) -> None:
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

    @property
    def up(self) -> bool:
        return self.sampler.last.up

    def cost_total(self) -> float:
        return self.attributed_cost_usd

    def record(self, span: Span, a: Attribution) -> None:
        """Set the attribution on a (still open) span."""
        attrs: dict[str, Any] = {
            "infersight.gpu.energy_j": a.energy_j,
            "infersight.gpu.seconds": a.gpu_seconds,
            "infersight.gpu.busy_seconds": a.busy_seconds,
            "infersight.gpu.throttled": a.throttled,
            "infersight.gpu.samples": a.samples,
            "infersight.gpu.split": self.ledger.split,
        }
        if a.util_mean is not None:
            attrs["infersight.gpu.util_mean"] = a.util_mean
        if a.power_mean_w is not None:
            attrs["infersight.gpu.power_mean_w"] = a.power_mean_w
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

    def shutdown(self) -> None:
        """Stop the sampler and exporters and unregister the collector (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.sampler.stop()
        if self._registry is not None and self.collector is not None:
            try:
                self._registry.unregister(self.collector)
            except KeyError:
                pass


def install(*, tracer_provider: Any = None, meter_provider: Any = None, registry: Any = None,
            nvml: Any = None, interval_s: float = 0.1, price_per_gpu_hour: float | None = None,
            instance_type: str | None = None, **opts: Any) -> GpuPlane:
    """Start the GPU plane: NVML sampler thread, Prometheus collector on ``registry`` (default
    the global ``REGISTRY``), OTel instruments on ``meter_provider`` (default global) and a
    request hook that puts per-request energy/GPU-seconds/cost on spans.

    Options: ``slow_interval_s`` (1.0), ``util_interval_s`` (0.2: the driver refreshes utilisation
    every 200 ms), ``energy_interval_s`` (10.0), ``devices`` (NVML indices; default all), ``pcie``
    (False: NVML's PCIe counters take ~20 ms a read),
    ``split`` ("equal" or "tokens"), ``metric_exporter`` + ``export_interval_s`` (full
    resolution OTLP), ``resource``, ``clock``. No GPU/driver/pynvml: one WARNING, ``up`` 0,
    the hook does nothing. ``tracer_provider`` is accepted for symmetry: the hook annotates
    the middleware's span and creates none.
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
                         clock=clock, pcie=bool(opts.get("pcie", False)))
    ledger = Ledger(split=opts.get("split", "equal"), clock=clock)
    resolve_price(price_per_gpu_hour, instance_type)  # validate before starting anything
    sampler.open()
    names = sampler.device_names
    if sampler.api is not None:
        ledger.bits = sampler.api.reasons
    price = resolve_price(price_per_gpu_hour, instance_type, names)
    plane = GpuPlane(sampler, ledger, price)
    sampler.add_listener(ledger.on_sweep)
    export = OtelExport(sampler, ledger=ledger, meter_provider=meter_provider,
                        metric_exporter=opts.get("metric_exporter"),
                        export_interval_s=opts.get("export_interval_s", 5.0),
                        resource=opts.get("resource"), cost_total=plane.cost_total)
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
        log.info("infersight GPU plane: %d device(s) at %.0f Hz, price %s/GPU-h (%s)",
                 len(names), 1.0 / sampler.interval_s, price.usd_per_gpu_hour, price.source)
    return plane


__all__ = ["GpuPlane", "GpuRequestHook", "install"]
