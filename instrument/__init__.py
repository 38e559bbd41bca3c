"""infersight.instrument: one call gives a model server traces, RED metrics and runtime signals.

    from infersight.instrument import instrument_app
    instrument_app(app, service_name="glm-server")

Rooms (each a sub-package of private modules; the public names are re-exported here):
``http/`` (the request middleware, health, exposition, outgoing clients), ``runtime/`` (GC,
event loop, CPU, runtime facts, the model's device), ``helpers/`` (caches, jobs, pools,
generations), ``metrics/`` (the metric and attribute catalogs, public), ``export/`` (configure,
OTLP, lean spans, transport, logs), ``gpu/`` (the NVML plane, public), ``vllm/`` (the vLLM plugin).
Every environment variable read: :mod:`infersight._env` (docs/configuration.md).
"""

from __future__ import annotations

import warnings
from typing import Any

from infersight.instrument._app import (
    add_readiness_check,
    instrument_app,
    instrumentation_of,
    uninstrument_app,
)
from infersight.instrument._errors import AlreadyInstrumentedError, ConfigurationError, InstrumentError
from infersight.instrument._options import (
    ExportOptions,
    GcOptions,
    GpuOptions,
    HealthOptions,
    LoopLagOptions,
    PrivacyOptions,
)
from infersight.instrument._state import Instrumentation
from infersight.instrument.export._configure import TelemetryProviders, configure
from infersight.instrument.gpu._memory import record_gpu_oom
from infersight.instrument.helpers._cache import LRU, Lookup, TracedCache, key_hash, lru_cached, traced_cache
from infersight.instrument.helpers._genai import record_generation
from infersight.instrument.helpers._jobs import JobRun, current_job, traced_job
from infersight.instrument.helpers._pool import traced_pool_acquire
from infersight.instrument.http._health import ReadinessCheck
from infersight.instrument.http._hooks import RequestHook
from infersight.instrument.runtime._device import declare_model_device

__all__ = [
    "LRU",
    "AlreadyInstrumentedError",
    "ConfigurationError",
    "ExportOptions",
    "GcOptions",
    "GpuOptions",
    "HealthOptions",
    "InstrumentError",
    "Instrumentation",
    "JobRun",
    "Lookup",
    "LoopLagOptions",
    "PrivacyOptions",
    "ReadinessCheck",
    "RequestHook",
    "TelemetryProviders",
    "TracedCache",
    "add_readiness_check",
    "configure",
    "current_job",
    "declare_model_device",
    "instrument_app",
    "instrumentation_of",
    "key_hash",
    "lru_cached",
    "record_generation",
    "record_gpu_oom",
    "traced_cache",
    "traced_job",
    "traced_pool_acquire",
    "uninstrument_app",
]


def __getattr__(name: str) -> Any:
    if name == "Telemetry":  # renamed: infersight.analysis.Telemetry is the other one
        warnings.warn("infersight.instrument.Telemetry is now TelemetryProviders", DeprecationWarning, stacklevel=2)
        return TelemetryProviders
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
