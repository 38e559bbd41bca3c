"""The batch span processor's and metric reader's settings: argument > OTEL_* variable > default."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from infersight.instrument._errors import ConfigurationError

from infersight._env import positive_int, positive_ms_as_s, resolve

logger = logging.getLogger(__name__)

DEFAULT_EXPORT_INTERVAL_S = 5.0
DEFAULT_EXPORT_TIMEOUT_S = 10.0
DEFAULT_SCHEDULE_DELAY_MS = 1000.0  # the SDK's is 5000: infersight keeps spans in memory for less
DEFAULT_MAX_QUEUE_SIZE = 2048
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512


def default_export_interval_s() -> float:
    """``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds, the OTel SDK variable; at least 100 ms) or 5 s."""
    return max(0.1, resolve(None, "OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_EXPORT_INTERVAL_S, positive_ms_as_s))


@dataclass(frozen=True)
class BatchSettings:
    """The span processor's and metric reader's settings after argument > environment > default."""

    max_queue_size: int
    max_export_batch_size: int
    schedule_delay_ms: float
    span_export_timeout_s: float
    export_interval_s: float
    metric_export_timeout_s: float
    #: the OTLP exporters' request timeout; None: the SDK reads OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT
    exporter_timeout_s: float | None


def _ms(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def batch_settings(*, max_queue_size: int | None = None, max_export_batch_size: int | None = None,
                   schedule_delay_ms: float | None = None, export_timeout_s: float | None = None,
                   export_interval_s: float | None = None) -> BatchSettings:
    """Resolve each setting: the argument, else its ``OTEL_BSP_*`` / ``OTEL_METRIC_EXPORT_*``
    variable, else infersight's default. Bad arguments raise :class:`ConfigurationError`; a bad
    variable is one warning and the default (the SDK's own behaviour)."""
    for name, value in (("max_queue_size", max_queue_size), ("max_export_batch_size", max_export_batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
    for name, num in (("schedule_delay_ms", schedule_delay_ms), ("export_timeout_s", export_timeout_s),
                      ("export_interval_s", export_interval_s)):
        if num is not None:
            _positive(name, num)
    queue = resolve(max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE, positive_int)
    batch = resolve(max_export_batch_size, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                    min(DEFAULT_MAX_EXPORT_BATCH_SIZE, queue), positive_int)
    if batch > queue:
        if max_export_batch_size is not None and max_queue_size is not None:
            raise ConfigurationError(
                f"need max_export_batch_size ({batch}) <= max_queue_size ({queue})")
        logger.warning("infersight: span batch size %d > queue size %d; using %d", batch, queue, queue)
        batch = queue
    env_timeout = any(os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                                                  "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"))
    return BatchSettings(
        max_queue_size=queue,
        max_export_batch_size=batch,
        schedule_delay_ms=resolve(schedule_delay_ms, "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS, _ms),
        span_export_timeout_s=resolve(export_timeout_s, "OTEL_BSP_EXPORT_TIMEOUT", DEFAULT_EXPORT_TIMEOUT_S,
                                      positive_ms_as_s),
        export_interval_s=export_interval_s if export_interval_s is not None else default_export_interval_s(),
        metric_export_timeout_s=resolve(export_timeout_s, "OTEL_METRIC_EXPORT_TIMEOUT", DEFAULT_EXPORT_TIMEOUT_S,
                                        positive_ms_as_s),
        exporter_timeout_s=(export_timeout_s if export_timeout_s is not None
                            else None if env_timeout else DEFAULT_EXPORT_TIMEOUT_S),
    )


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be > 0, got {value!r}")
    return value


__all__ = ["DEFAULT_EXPORT_INTERVAL_S", "DEFAULT_EXPORT_TIMEOUT_S", "BatchSettings", "batch_settings",
           "default_export_interval_s"]
