"""infersight.instrument.gpu: the NVML GPU plane.

``install()`` (what ``instrument_app(app, gpu=True)`` calls) samples every visible GPU on a
background thread, exposes the samples to Prometheus and OTLP, and attributes GPU energy,
GPU-seconds and cost to each request span (only this process's share of a GPU shared with other
processes). ``start_sampler()`` is the standalone sampler for processes without a FastAPI app;
``attribute(tokens=...)`` reports a request's token count; ``record_gpu_oom()`` an allocation
failure.
"""

from __future__ import annotations

from infersight.instrument.gpu._attribution import Attribution, attribute
from infersight.instrument.gpu._cost import PRICES, Price, PriceChoice, resolve_price
from infersight.instrument.gpu._errors import GpuConfigError, GpuError
from infersight.instrument.gpu._memory import record_gpu_oom
from infersight.instrument.gpu._nvml import THROTTLE_REASONS, decode_reasons, reason_bits
from infersight.instrument.gpu._plane import GpuPlane, GpuRequestHook, install
from infersight.instrument.gpu._prom import GpuCollector
from infersight.instrument.gpu._sampler import GpuSampler, start_sampler
from infersight.instrument.gpu._types import DeviceSample, Sweep

__all__ = [
    "PRICES",
    "THROTTLE_REASONS",
    "Attribution",
    "DeviceSample",
    "GpuCollector",
    "GpuConfigError",
    "GpuError",
    "GpuPlane",
    "GpuRequestHook",
    "GpuSampler",
    "Price",
    "PriceChoice",
    "Sweep",
    "attribute",
    "decode_reasons",
    "install",
    "reason_bits",
    "record_gpu_oom",
    "resolve_price",
    "start_sampler",
]
