"""The one seam between infersight and the OpenTelemetry SDK's private attributes and modules.

infersight reads a few things the SDK does not expose publicly: the batch processor's queue and
worker (to count dropped spans and to queue pre-encoded lean spans), the OTLP/HTTP exporter's
client, endpoint and self-metrics (to send pre-encoded bytes over a kept-alive connection), a
ParentBased sampler's delegates, BoundedAttributes' dict, the contrib semconv switch and the
logs SDK (``opentelemetry.sdk._logs``). Every such reach lives here and nowhere else; each
function degrades to "not available" (None/False) on an SDK that lacks the attribute, and the
callers fall back to the SDK's public path (slower, never wrong). ``tests/instrument/
test_sdk_compat.py`` runs on the installed SDK (``make test``) and, through
``tests/instrument/sdk_matrix.sh``, on the oldest SDK pyproject.toml allows.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

logger = logging.getLogger(__name__)


def _version(dist: str) -> tuple[int, ...]:
    try:
        raw = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ()
    parts: list[int] = []
    for piece in raw.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


#: ``opentelemetry-sdk``'s version as a tuple, e.g. (1, 45, 2)
SDK_VERSION = _version("opentelemetry-sdk")

# -- the SDK's pluggable HTTP transport (opentelemetry-exporter-http-transport, SDK >= 1.4x) --------
try:
    from opentelemetry.exporter.http.transport._base import BaseHTTPResult, BaseHTTPTransport

    HAS_HTTP_TRANSPORT = True
except ImportError:  # older SDKs post with requests directly: the lean transport is not used
    HAS_HTTP_TRANSPORT = False

    class BaseHTTPResult:  # type: ignore[no-redef]
        """Stands in for the SDK's class on SDKs without pluggable transports (never instantiated)."""

        def __init__(self, status_code: int | None = None, reason: str | None = None,
                     error: Exception | None = None) -> None:
            self.status_code, self.reason, self.error = status_code, reason, error

    class BaseHTTPTransport:  # type: ignore[no-redef]
        """Stands in for the SDK's class on SDKs without pluggable transports (never instantiated)."""


# -- sampling ----------------------------------------------------------------------------------

def is_parent_based_always_on(sampler: Any) -> bool:
    """True for the SDK's default sampler, ``ParentBased(ALWAYS_ON)`` with default delegates."""
    from opentelemetry.sdk.trace import sampling

    return (type(sampler) is sampling.ParentBased
            and getattr(sampler, "_root", None) is sampling.ALWAYS_ON
            and getattr(sampler, "_remote_parent_sampled", None) is sampling.ALWAYS_ON
            and getattr(sampler, "_remote_parent_not_sampled", None) is sampling.ALWAYS_OFF
            and getattr(sampler, "_local_parent_sampled", None) is sampling.ALWAYS_ON
            and getattr(sampler, "_local_parent_not_sampled", None) is sampling.ALWAYS_OFF)


# -- attributes --------------------------------------------------------------------------------

def plain_attributes(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """The plain dict inside a ``BoundedAttributes`` (iterating it skips the Mapping mixin's
    per-item lookups), else ``attributes`` itself."""
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else attributes


# -- providers ---------------------------------------------------------------------------------

def span_processors_raw(provider: Any) -> Any:
    """The SDK's own sequence of a provider's span processors (a tuple it replaces, never
    mutates, when one is added: compare by identity), or None."""
    return getattr(getattr(provider, "_active_span_processor", None), "_span_processors", None)


def span_processors(provider: Any) -> tuple[Any, ...] | None:
    """The span processors added to an SDK ``TracerProvider`` (None if the SDK hides them)."""
    active = getattr(provider, "_active_span_processor", None)
    listeners = getattr(active, "_span_processors", None)
    return None if listeners is None else tuple(listeners)


# -- the batch span processor ------------------------------------------------------------------

@dataclass
class BatchView:
    """What infersight reads of an SDK ``BatchSpanProcessor``: its bounded queue, whether it has
    shut down, its worker thread (read when asked: a fork replaces it), and (newer SDKs) ``emit``
    to queue an item that is not a span."""

    queue: Any                      # collections.deque with maxlen, or None
    emit: Callable[[Any], None] | None
    _owner: Any
    _flag: str
    _worker: str

    def is_shut_down(self) -> bool:
        return bool(getattr(self._owner, self._flag, False))

    def worker_alive(self) -> bool:
        worker = getattr(self._owner, self._worker, None)
        return worker is not None and bool(worker.is_alive())


def batch_view(processor: Any) -> BatchView:
    inner = getattr(processor, "_batch_processor", None)
    if inner is not None:  # SDK >= 1.3x: BatchSpanProcessor wraps a shared BatchProcessor
        return BatchView(getattr(inner, "_queue", None), getattr(inner, "emit", None), inner, "_shutdown",
                         "_worker_thread")
    # older SDKs keep the queue on the processor itself and cannot queue an item without a span
    return BatchView(getattr(processor, "queue", None), None, processor, "done", "worker_thread")


def bounded_batch_shutdown(processor: Any, timeout_millis: float) -> bool:
    """Shut a BatchSpanProcessor down within ``timeout_millis``; False when the SDK has no bounded
    shutdown (the caller then uses the processor's own ``shutdown()``)."""
    inner = getattr(processor, "_batch_processor", None)
    if inner is None:
        return False
    inner.shutdown(timeout_millis=timeout_millis)
    return True


# -- OTLP/HTTP exporters -----------------------------------------------------------------------

def exporter_endpoint(exporter: Any) -> str | None:
    """The URL an SDK OTLP/HTTP exporter posts to."""
    url = getattr(exporter, "_endpoint", None)
    return url if isinstance(url, str) else None


def otlp_http_client(exporter: Any) -> Any:
    """The SDK exporter's HTTP client (``_OTLPHTTPClient``: retries, compression, headers), or None
    on SDKs whose exporters post through ``requests`` themselves."""
    client = getattr(exporter, "_client", None)
    return client if client is not None and callable(getattr(client, "export", None)) else None


def export_operation(exporter: Any) -> Callable[[int], Any] | None:
    """The exporter's self-observability context manager (``with op(n) as result``), or None."""
    op = getattr(getattr(exporter, "_metrics", None), "export_operation", None)
    return op if callable(op) else None


def exporter_is_shut_down(exporter: Any) -> bool:
    return bool(getattr(exporter, "_shutdown", False))


def max_request_size(exporter: Any) -> int | None:
    limit = getattr(exporter, "_max_request_size", None)
    return limit if isinstance(limit, int) else None


def lean_export_supported(exporter: Any) -> bool:
    """True when pre-encoded bytes can go through this exporter's own client (see ``_otlp``)."""
    return otlp_http_client(exporter) is not None and export_operation(exporter) is not None


def client_transport(client: Any) -> Any:
    return getattr(client, "_transport", None)


def set_client_transport(client: Any, transport: Any) -> None:
    client._transport = transport


def preferred_temporality(exporter: Any) -> Any:
    return getattr(exporter, "_preferred_temporality", None)


def preferred_aggregation(exporter: Any) -> Any:
    return getattr(exporter, "_preferred_aggregation", None)


#: loggers of the SDK's OTLP/HTTP exporter modules (their per-retry lines become one warning)
SDK_EXPORT_LOGGERS = ("opentelemetry.exporter.otlp.proto.http._common",
                      "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                      "opentelemetry.exporter.otlp.proto.http.metric_exporter",
                      "opentelemetry.exporter.otlp.proto.http._log_exporter")


# -- contrib semantic conventions --------------------------------------------------------------

def force_stable_http_semconv() -> bool:
    """Make the contrib instrumentations emit the stable HTTP attribute names even when their
    semconv switch was initialised before ``OTEL_SEMCONV_STABILITY_OPT_IN=http`` was set.
    Returns False (contrib then keeps the names it chose) when the switch is not where expected."""
    try:
        from opentelemetry.instrumentation import _semconv
    except ImportError:
        return False
    # the mode enum is _StabilityMode in newer contrib releases, _HTTPStabilityMode before
    modes: Any = getattr(_semconv, "_StabilityMode", None) or getattr(_semconv, "_HTTPStabilityMode", None)
    stability: Any = getattr(_semconv, "_OpenTelemetrySemanticConventionStability", None)
    signals: Any = getattr(_semconv, "_OpenTelemetryStabilitySignalType", None)
    if modes is None or stability is None or signals is None:
        return False
    signal = signals.HTTP
    try:
        stability._initialize()
        if stability._get_opentelemetry_stability_opt_in_mode(signal) == modes.DEFAULT:
            with stability._lock:
                stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING[signal] = modes.HTTP
        return True
    except Exception:
        logger.debug("infersight: the contrib semconv switch is not where expected", exc_info=True)
        return False


# -- logs (the SDK's logs module is still private: opentelemetry.sdk._logs) ---------------------

@dataclass(frozen=True)
class LogsSdk:
    LoggerProvider: Any
    BatchLogRecordProcessor: Any
    OTLPLogExporter: Any
    _handler: Any

    def handler(self, level: int, provider: Any) -> logging.Handler:
        """A ``logging.Handler`` that emits into ``provider``: opentelemetry-instrumentation-logging's
        when installed, else the SDK's own (deprecated there since 1.3x, still working)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            made: logging.Handler = self._handler(level=level, logger_provider=provider)
        return made


def logs_sdk() -> LogsSdk | None:
    """The logs SDK's classes (``opentelemetry.sdk._logs``, the OTLP/HTTP log exporter), or None."""
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    except ImportError:
        return None
    import importlib

    handler: Any = None
    for module in ("opentelemetry.instrumentation.logging.handler", "opentelemetry.sdk._logs"):
        try:
            handler = importlib.import_module(module).LoggingHandler
            break
        except (ImportError, AttributeError):
            continue
    if handler is None:
        return None
    return LogsSdk(LoggerProvider, BatchLogRecordProcessor, OTLPLogExporter, handler)


__all__ = ["HAS_HTTP_TRANSPORT", "SDK_EXPORT_LOGGERS", "SDK_VERSION", "BaseHTTPResult", "BaseHTTPTransport",
           "BatchView", "LogsSdk", "batch_view", "bounded_batch_shutdown", "client_transport", "export_operation",
           "exporter_endpoint", "exporter_is_shut_down", "force_stable_http_semconv", "is_parent_based_always_on",
           "lean_export_supported", "logs_sdk", "max_request_size", "otlp_http_client", "plain_attributes",
           "preferred_aggregation", "preferred_temporality", "set_client_transport", "span_processors"]
