"""Client-side truth: one OTLP CLIENT span per request of a load generator or prober.

    spans = ClientSpans("mywork-load", role="load", endpoint="http://127.0.0.1:4318")
    req = spans.begin("POST", "/v1/chat", "http://127.0.0.1:8000", scheduled_ns=..., sent_ns=...)
    response = http_post(url, headers=req.headers)         # carries the traceparent
    req.finish(status_code=response.status, end_ns=...)
    spans.shutdown()

The span starts at the request's *scheduled* send time (open loop: time the request spent
queued in the client counts), ends when the response arrived, and its context goes out as a
W3C ``traceparent`` so the server's SERVER span is its child. Resource: ``service.name`` and
``infersight.role`` (``load`` | ``probe``). Attributes: ``http.request.method``,
``http.route``, ``server.address``, ``server.port``, ``http.response.status_code``,
``error.type`` (failure, timeout, status >= 400), ``infersight.load.scheduled`` = true,
``infersight.load.send_lag_ms`` (actual send - scheduled send). Exported with the OTel SDK's
OTLP/HTTP exporter behind a bounded batch processor that counts drops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from infersight.instrument.export._configure import signal_endpoint
from infersight.instrument.export._health import ensure_visible, watch_exports
from infersight.instrument.export._processor import BoundedBatchSpanProcessor
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
SCOPE = "infersight.client"


class Clock:
    """Wall-clock nanoseconds for ``perf_counter_ns`` readings (one anchor, so no jumps)."""

    def __init__(self) -> None:
        self.wall0 = time.time_ns()
        self.perf0 = time.perf_counter_ns()

    def wall(self, perf_ns: int) -> int:
        return self.wall0 + (perf_ns - self.perf0)


class ClientRequest:
    """One request in flight: ``headers`` go out with it; call :meth:`finish` when it is over."""

    __slots__ = ("span", "headers", "_done")

    def __init__(self, span: Any, headers: dict[str, str]) -> None:
        self.span = span
        self.headers = headers
        self._done = False

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def finish(self, status_code: int | None = None, error_type: str | None = None,
               end_ns: int | None = None) -> None:
        """End the span at ``end_ns`` (Unix ns; now by default): the response's last byte arrived,
        or the request failed with ``error_type`` (an exception name, ``timeout``...)."""
        if self._done:
            return
        self._done = True
        span = self.span
        try:
            if status_code:
                span.set_attribute("http.response.status_code", status_code)
            if error_type is None and status_code is not None and status_code >= 400:
                error_type = str(status_code)
            if error_type is not None:
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=end_ns)
        except Exception:  # a load generator must keep going whatever telemetry does
            logger.warning("ending a CLIENT span failed", exc_info=True)


class ClientSpans:
    """Makes the CLIENT spans of one load generator or prober (see the module docstring).

    Exports to ``endpoint`` (the collector's base URL; else the ``OTEL_EXPORTER_OTLP_*``
    variables, else ``http://127.0.0.1:4318``), or to ``span_exporter``, or through the given
    ``tracer_provider`` (which the caller owns: :meth:`shutdown` leaves it running).
    """

    def __init__(self, service_name: str = "infersight-load", *, role: str = "load",
                 endpoint: str | None = None, tracer_provider: trace.TracerProvider | None = None,
                 span_exporter: SpanExporter | None = None,
                 resource_attributes: Mapping[str, Any] | None = None,
                 max_queue_size: int = 8192, schedule_delay_ms: float = 500.0,
                 export_timeout_s: float = 10.0) -> None:
        self.processor: BoundedBatchSpanProcessor | None = None
        self._owned: TracerProvider | None = None
        if tracer_provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            from infersight._version import __version__

            attrs: dict[str, Any] = {"service.name": service_name, "infersight.role": role,
                                     "infersight.version": __version__}
            attrs.update(resource_attributes or {})
            if span_exporter is None:
                span_exporter = OTLPSpanExporter(endpoint=signal_endpoint(endpoint, "traces"),
                                                 timeout=export_timeout_s)
                # an unreachable collector: one warning, not a line per retry (as for configure())
                url = str(getattr(span_exporter, "_endpoint", "") or "")
                watch_exports(url.removesuffix("/v1/traces") or "the OTLP endpoint")
                ensure_visible()
            self.processor = BoundedBatchSpanProcessor(
                span_exporter, max_queue_size=max_queue_size, schedule_delay_millis=schedule_delay_ms,
                max_export_batch_size=min(512, max_queue_size), export_timeout_millis=export_timeout_s * 1000)
            self._owned = TracerProvider(resource=Resource.create(attrs))
            self._owned.add_span_processor(self.processor)
            tracer_provider = self._owned
        self.tracer = tracer_provider.get_tracer(SCOPE)
        self.clock = Clock()

    @property
    def dropped(self) -> int:
        """Spans this exporter did not deliver (full queue, failed export)."""
        return self.processor.dropped if self.processor is not None else 0

    def begin(self, method: str, route: str, url: str, *, scheduled_ns: int, sent_ns: int | None = None,
              attributes: Mapping[str, Any] | None = None) -> ClientRequest:
        """Start the span of a request to ``url`` (any URL on the server: host and port are
        taken from it) scheduled at ``scheduled_ns`` and sent at ``sent_ns`` (Unix ns)."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        sent = sent_ns if sent_ns is not None else time.time_ns()
        attrs: dict[str, Any] = {"http.request.method": method, "http.route": route,
                                 "server.address": parts.hostname or "", "server.port": port,
                                 "infersight.load.scheduled": True,
                                 "infersight.load.send_lag_ms": max(0, sent - scheduled_ns) / 1e6}
        if attributes:
            attrs.update(attributes)
        span = self.tracer.start_span(f"{method} {route}", context=trace.set_span_in_context(
            trace.INVALID_SPAN), kind=SpanKind.CLIENT, attributes=attrs, start_time=scheduled_ns)
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
        return ClientRequest(span, headers)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush what is queued (at most ``timeout_s``) and stop, when the provider is ours."""
        if self.processor is not None:
            try:
                self.processor.shutdown(timeout_millis=timeout_s * 1000)
            except Exception:
                logger.warning("shutting down the CLIENT span exporter failed", exc_info=True)
        if self._owned is not None:
            self._owned.shutdown()
            self._owned = None


__all__ = ["ClientRequest", "ClientSpans", "Clock", "SCOPE"]
