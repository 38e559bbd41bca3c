"""Exporters for the vLLM plugin: where spans go, and no double export after ``fork``.

* :class:`LazySpanExporter` decides where each batch goes when it is exported, the way vLLM
  does: vLLM's ``--otlp-traces-endpoint`` ends up in ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
  (vLLM sets it when it initialises tracing, after the plugin ran) with
  ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` (vLLM's default: ``grpc``). Without it, spans go to
  the infersight collector over OTLP/HTTP.
* :class:`PidGuardSpanExporter` / :class:`PidGuardMetricExporter` export only in the process
  that built them: a child made with ``fork`` inherits the parent's providers (the SDK even
  restarts their threads), and must not send the parent's data under the parent's role.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from infersight.instrument._errors import ConfigurationError
from infersight.instrument._sdk_compat import preferred_aggregation, preferred_temporality
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)

ENDPOINT_ENV = "INFERSIGHT_OTLP_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


def resolve_endpoint(argv: Sequence[str] = (), environ: Any = None) -> str:
    """Base URL of the infersight collector (OTLP/HTTP) for metrics and runtime spans.

    ``INFERSIGHT_OTLP_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT``, else vLLM's
    ``--otlp-traces-endpoint`` when it is an OTLP/HTTP ``.../v1/traces`` URL, else
    ``http://127.0.0.1:4318``.
    """
    env = os.environ if environ is None else environ
    for key in (ENDPOINT_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if env.get(key):
            return _base(env[key])
    args = list(argv)
    for i, arg in enumerate(args):
        value = None
        if arg == "--otlp-traces-endpoint" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--otlp-traces-endpoint="):
            value = arg.split("=", 1)[1]
        if value and urlsplit(value).path.rstrip("/").endswith("/v1/traces"):
            return _base(value.rstrip("/")[: -len("/v1/traces")])
    return DEFAULT_ENDPOINT


def _base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"OTLP endpoint must be an http(s) URL like {DEFAULT_ENDPOINT!r}, got {url!r}")
    return url.rstrip("/")


def _make_span_exporter(endpoint: str, protocol: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc(endpoint=endpoint, insecure=True)
    if protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http(endpoint=endpoint)
    raise ConfigurationError(f"unsupported OTLP traces protocol {protocol!r}")


class LazySpanExporter(SpanExporter):
    """Resolves the span destination at export time (see the module docstring)."""

    def __init__(self, fallback_endpoint: str, *, environ: Any = None, factory: Any = None) -> None:
        self.fallback = f"{_base(fallback_endpoint)}/v1/traces"
        self._env = os.environ if environ is None else environ
        self._factory = factory or _make_span_exporter
        self._exporters: dict[tuple[str, str], SpanExporter] = {}
        self._lock = threading.Lock()
        self._failed: set[tuple[str, str]] = set()

    def target(self) -> tuple[str, str]:
        endpoint = self._env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if endpoint:
            return endpoint, self._env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
        return self.fallback, "http/protobuf"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        key = self.target()
        with self._lock:
            exporter = self._exporters.get(key)
            if exporter is None and key not in self._failed:
                try:
                    exporter = self._exporters[key] = self._factory(*key)
                    logger.info("infersight: exporting vLLM spans to %s (%s)", *key)
                except Exception as exc:
                    self._failed.add(key)
                    logger.warning("infersight: cannot export spans to %s (%s): %s; dropping them",
                                   key[0], key[1], exc)
        if exporter is None:
            return SpanExportResult.FAILURE
        return exporter.export(spans)

    def shutdown(self) -> None:
        with self._lock:
            exporters = list(self._exporters.values())
            self._exporters.clear()
        for exporter in exporters:
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(e.force_flush(timeout_millis) for e in list(self._exporters.values()))


class PidGuardSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, pid: int | None = None) -> None:
        self.inner = inner
        self.pid = os.getpid() if pid is None else pid

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if os.getpid() != self.pid:
            return SpanExportResult.SUCCESS  # inherited by a forked child: not ours to send
        return self.inner.export(spans)

    def shutdown(self) -> None:
        if os.getpid() == self.pid:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis) if os.getpid() == self.pid else True


class PidGuardMetricExporter(MetricExporter):
    def __init__(self, inner: MetricExporter, pid: int | None = None) -> None:
        super().__init__(preferred_temporality=preferred_temporality(inner),
                         preferred_aggregation=preferred_aggregation(inner))
        self.inner = inner
        self.pid = os.getpid() if pid is None else pid

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
               ) -> MetricExportResult:
        if os.getpid() != self.pid:
            return MetricExportResult.SUCCESS
        return self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis) if os.getpid() == self.pid else True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if os.getpid() == self.pid:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


__all__ = ["DEFAULT_ENDPOINT", "ENDPOINT_ENV", "LazySpanExporter", "PidGuardMetricExporter",
           "PidGuardSpanExporter", "resolve_endpoint"]
