"""Typed options of :func:`~infersight.instrument.instrument_app`, one frozen dataclass per concern.

    instrument_app(app, "glm-server",
                   gc=GcOptions(event_threshold_ms=2.0),
                   loop_lag=LoopLagOptions(stack=True),
                   health=HealthOptions(checks={"model": model_loaded}),
                   gpu=GpuOptions(price_per_gpu_hour=2.5),
                   privacy=PrivacyOptions(capture_query=True),
                   export=ExportOptions(log_level="ERROR"))

Each one checks its values when it is made (a bad one is a :class:`ConfigurationError` naming
the field), so a typo or an out-of-range value fails before anything is installed. ``gc``,
``loop_lag`` and ``gpu`` also take ``True``/``False`` (defaults on, on, off). The flat keyword
arguments of earlier releases (``gc_event_threshold_ms=``, ``gpu_options={...}``, ...) still
work for now, with a DeprecationWarning naming the option that replaces each
(:func:`from_legacy`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from infersight.instrument._errors import ConfigurationError
from infersight.instrument.http._health import ReadinessCheck


def _positive(owner: str, name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{owner}.{name} must be a positive number, got {value!r}")


def _path(owner: str, name: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.startswith("/")):
        raise ConfigurationError(f"{owner}.{name}: paths must start with '/', got {value!r}")


@dataclass(frozen=True)
class GcOptions:
    """GC pauses: ``event_threshold_ms`` (a pause this long becomes a ``gc.pause`` event on the
    requests it stalled) and ``pause_spans`` (long pauses as ``gc.pause`` spans of their own)."""

    enabled: bool = True
    event_threshold_ms: float = 5.0
    pause_spans: bool = True

    def __post_init__(self) -> None:
        ms = self.event_threshold_ms
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
            raise ConfigurationError(f"GcOptions.event_threshold_ms must be a number >= 0, got {ms!r}")


@dataclass(frozen=True)
class LoopLagOptions:
    """Event-loop lag: sampled every ``interval_s``; a block of ``blocked_threshold_s`` or more
    becomes an ``event_loop.blocked`` span (``blocked_spans``), with the blocking stack when
    ``stack`` (costs a thread's stack sample per block)."""

    enabled: bool = True
    interval_s: float = 0.1
    blocked_threshold_s: float = 0.1
    stack: bool = False
    blocked_spans: bool = True

    def __post_init__(self) -> None:
        _positive("LoopLagOptions", "interval_s", self.interval_s)
        _positive("LoopLagOptions", "blocked_threshold_s", self.blocked_threshold_s)


@dataclass(frozen=True)
class HealthOptions:
    """``/healthz``, ``/readyz`` and ``/metrics`` (None turns one off), the readiness ``checks``
    (a mapping name -> check, or checks named after their functions) and their ``timeout_s``;
    ``trace_health`` also traces the health endpoints (off: probes would fill the traces)."""

    live_path: str | None = "/healthz"
    ready_path: str | None = "/readyz"
    metrics_path: str | None = "/metrics"
    checks: Mapping[str, ReadinessCheck] | Iterable[ReadinessCheck] | None = None
    timeout_s: float = 2.0
    trace_health: bool = False

    def __post_init__(self) -> None:
        for name in ("live_path", "ready_path", "metrics_path"):
            _path("HealthOptions", name, getattr(self, name))
        _positive("HealthOptions", "timeout_s", self.timeout_s)


@dataclass(frozen=True)
class GpuOptions:
    """The NVML GPU plane (see docs/gpu.md): ``nvml`` (an NVML module; tests inject a fake),
    sampling ``interval_s`` (fast), ``util_interval_s``, ``slow_interval_s``, ``energy_interval_s``,
    ``devices`` (NVML indices; default all), ``pcie`` (PCIe counters: ~20 ms a read), the cost
    model (``price_per_gpu_hour`` or a cloud ``instance_type``; ``split`` "equal" or "tokens"),
    ``self_pids`` (more pids that count as this server), ``no_gpu_work_after_s``, its own OTLP
    ``export_interval_s`` / ``metric_exporter`` / ``resource``, and ``clock`` / ``torch_stats``."""

    enabled: bool = True
    nvml: Any = None
    interval_s: float = 0.1
    slow_interval_s: float = 1.0
    util_interval_s: float = 0.2
    energy_interval_s: float = 10.0
    devices: Sequence[int] | None = None
    pcie: bool = False
    price_per_gpu_hour: float | None = None
    instance_type: str | None = None
    split: Literal["equal", "tokens"] = "equal"
    self_pids: Sequence[int] = ()
    no_gpu_work_after_s: float = 1.0
    export_interval_s: float | None = None
    metric_exporter: Any = None
    resource: Any = None
    clock: Callable[[], int] | None = None
    torch_stats: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        for name in ("interval_s", "slow_interval_s", "util_interval_s", "energy_interval_s", "no_gpu_work_after_s"):
            _positive("GpuOptions", name, getattr(self, name))
        _positive("GpuOptions", "export_interval_s", self.export_interval_s, allow_none=True)
        if self.split not in ("equal", "tokens"):
            raise ConfigurationError(f"GpuOptions.split must be 'equal' or 'tokens', got {self.split!r}")

    def install_kwargs(self) -> dict[str, Any]:
        """What ``infersight.instrument.gpu.install`` takes (nvml and the values that differ from
        the plane's own defaults)."""
        skip = {"enabled"}
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in skip and getattr(self, f.name) is not None and getattr(self, f.name) != ()}


@dataclass(frozen=True)
class PrivacyOptions:
    """What request data the spans keep: ``capture_query`` (url.query values, REDACTED by default:
    prompts and tokens travel in query strings), ``capture_paths`` (a request no route matched
    keeps its raw path instead of ``/{unmatched}``), ``capture_exception_messages`` (exception
    messages on spans; process-wide; None leaves the current setting)."""

    capture_query: bool = False
    capture_paths: bool = False
    capture_exception_messages: bool | None = None


@dataclass(frozen=True)
class ExportOptions:
    """How telemetry leaves the process when infersight builds the providers: ``interval_s``
    between OTLP metric exports (default ``OTEL_METRIC_EXPORT_INTERVAL``, else 5 s), ``lean_spans``
    (SERVER spans encoded once at their end: same OTLP bytes, less CPU) and ``log_level`` (the
    application's log records at that level and above over OTLP too, e.g. ``"ERROR"``)."""

    interval_s: float | None = None
    lean_spans: bool = True
    log_level: int | str | None = None

    def __post_init__(self) -> None:
        _positive("ExportOptions", "interval_s", self.interval_s, allow_none=True)
        if self.log_level is not None:
            from infersight.instrument.export._logs import log_level

            log_level(self.log_level)


@dataclass(frozen=True)
class Options:
    """Every option of one ``instrument_app`` call, resolved."""

    gc: GcOptions = field(default_factory=GcOptions)
    loop_lag: LoopLagOptions = field(default_factory=LoopLagOptions)
    health: HealthOptions = field(default_factory=HealthOptions)
    gpu: GpuOptions = field(default_factory=lambda: GpuOptions(enabled=False))
    privacy: PrivacyOptions = field(default_factory=PrivacyOptions)
    export: ExportOptions = field(default_factory=ExportOptions)


# flat keyword of earlier releases -> (option group, field); "gpu_options" is the whole dict
_LEGACY: dict[str, tuple[str, str]] = {
    "gc_event_threshold_ms": ("gc", "event_threshold_ms"), "gc_pause_spans": ("gc", "pause_spans"),
    "loop_lag_interval_s": ("loop_lag", "interval_s"), "loop_blocked_threshold_s": ("loop_lag", "blocked_threshold_s"),
    "loop_lag_stack": ("loop_lag", "stack"), "loop_blocked_spans": ("loop_lag", "blocked_spans"),
    "readiness_checks": ("health", "checks"), "readiness_timeout_s": ("health", "timeout_s"),
    "metrics_path": ("health", "metrics_path"), "trace_health": ("health", "trace_health"),
    "nvml": ("gpu", "nvml"), "capture_query": ("privacy", "capture_query"),
    "capture_paths": ("privacy", "capture_paths"),
    "capture_exception_messages": ("privacy", "capture_exception_messages"),
    "export_interval_s": ("export", "interval_s"), "lean_spans": ("export", "lean_spans"),
    "log_level": ("export", "log_level"),
}
_CLASSES = {"gc": GcOptions, "loop_lag": LoopLagOptions, "health": HealthOptions, "gpu": GpuOptions,
            "privacy": PrivacyOptions, "export": ExportOptions}


def resolve(*, gc: GcOptions | bool, loop_lag: LoopLagOptions | bool, health: HealthOptions | None,
            gpu: GpuOptions | bool, privacy: PrivacyOptions | None, export: ExportOptions | None,
            legacy: Mapping[str, Any]) -> Options:
    """The typed options, with ``True``/``False`` shorthands and the deprecated flat keywords applied."""
    groups: dict[str, Any] = {
        "gc": _group(GcOptions, gc, "gc"), "loop_lag": _group(LoopLagOptions, loop_lag, "loop_lag"),
        "health": health if health is not None else HealthOptions(),
        "gpu": _group(GpuOptions, gpu, "gpu", default_on=False),
        "privacy": privacy if privacy is not None else PrivacyOptions(),
        "export": export if export is not None else ExportOptions(),
    }
    for name, value in groups.items():
        if not isinstance(value, _CLASSES[name]):
            raise ConfigurationError(f"{name}= takes a {_CLASSES[name].__name__}, got {type(value).__name__}")
    return Options(**_apply_legacy(groups, legacy))


def _group(cls: type, value: Any, name: str, *, default_on: bool = True) -> Any:
    if isinstance(value, bool):
        return cls(enabled=value)
    if value is None:
        return cls(enabled=default_on)
    return value


def _apply_legacy(groups: dict[str, Any], legacy: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(legacy) - set(_LEGACY) - {"health_paths", "gpu_options"})
    if unknown:
        raise TypeError(f"instrument_app() got unexpected keyword argument(s): {', '.join(unknown)}")
    for key, value in legacy.items():
        if key == "health_paths":
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise ConfigurationError("health_paths must be (liveness_path, readiness_path); use None to disable one")
            _deprecated(key, "health=HealthOptions(live_path=..., ready_path=...)")
            groups["health"] = replace(groups["health"], live_path=value[0], ready_path=value[1])
        elif key == "gpu_options":
            opts = dict(value or {})
            known = {f.name for f in fields(GpuOptions)} - {"enabled"}
            bad = sorted(set(opts) - known)
            if bad:  # a typo is refused like any bad argument (it used to turn the GPU plane off)
                raise ConfigurationError(f"unknown GPU plane option(s): {bad}")
            _deprecated(key, "gpu=GpuOptions(...)")
            groups["gpu"] = replace(groups["gpu"], **opts)
        else:
            group, name = _LEGACY[key]
            _deprecated(key, f"{group}={_CLASSES[group].__name__}({name}=...)")
            groups[group] = replace(groups[group], **{name: value})
    return groups


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"instrument_app({old}=...) is deprecated: use {new}", DeprecationWarning, stacklevel=4)


__all__ = ["ExportOptions", "GcOptions", "GpuOptions", "HealthOptions", "LoopLagOptions", "Options",
           "PrivacyOptions", "resolve"]
