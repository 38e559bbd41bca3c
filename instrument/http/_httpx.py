"""Lean httpx CLIENT spans, for a TracerProvider that infersight built itself (``configure()``).

The OTel httpx instrumentation costs ~200 µs of CPU per outgoing request on this project's
benchmark (header normalisation, the URL parsed twice, semconv mode lookups in ``os.environ``,
an SDK histogram). When the provider is infersight's own, ``instrument_clients`` patches
``httpx.HTTPTransport.handle_request`` / ``httpx.AsyncHTTPTransport.handle_async_request``
with this instead: one lean CLIENT span per request (what the analysis reads: the callee's
``server.address``/``server.port``, ``url.full`` with query values redacted,
``http.request.method``, ``http.response.status_code``, ``error.type``; status ERROR at >= 400
or an exception, which is recorded as an event) and the W3C ``traceparent``/``tracestate``
written onto the outgoing request (any other configured propagator, and baggage, through
``opentelemetry.propagate``). No ``http.client.request.duration`` histogram: the spans carry
the durations. With any other provider the OTel instrumentation is used as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from infersight.instrument.http._redact import record_exception, redact_url, status_description
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode

logger = logging.getLogger(__name__)

_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"})
_SUPPRESS_KEYS = ("suppress_instrumentation", "suppress_http_instrumentation")
_lock = threading.Lock()
_installed: dict[str, Any] = {}  # "sync"/"async_": httpx's own methods; "users": apps using the patch


def _suppressed() -> bool:
    ctx = otel_context.get_current()
    return any(ctx.get(k) for k in _SUPPRESS_KEYS) if ctx else False


def _default_propagator(textmap: Any) -> bool:
    """The SDK default (``tracecontext,baggage``): traceparent is written here, by hand."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not isinstance(textmap, CompositePropagator):
        return False
    kinds = [type(p) for p in getattr(textmap, "_propagators", ())]
    return kinds == [TraceContextTextMapPropagator, W3CBaggagePropagator]


class _Client:
    """What one patched transport call needs: the tracer and whether query values stay."""

    def __init__(self, tracer: trace.Tracer, capture_query: bool) -> None:
        self.tracer = tracer
        self.capture_query = capture_query
        self._textmap: Any = None
        self._fast = False

    def start(self, request: Any) -> Any:
        """The CLIENT span for ``request`` (None: suppressed or not recorded), propagated onto it."""
        if _suppressed():
            return None
        method = request.method.decode() if isinstance(request.method, bytes) else str(request.method)
        url = request.url
        attrs: dict[str, Any] = {"http.request.method": method if method in _KNOWN_METHODS else "_OTHER"}
        if method not in _KNOWN_METHODS:
            attrs["http.request.method_original"] = method
        host = url.host
        if host:
            attrs["server.address"] = host
        port = url.port or (443 if url.scheme == "https" else 80 if url.scheme == "http" else None)
        if port:
            attrs["server.port"] = port
        full = str(url)
        attrs["url.full"] = full if self.capture_query or not (url.query or url.userinfo or url.fragment) \
            else redact_url(full)
        span = self.tracer.start_span(method if method in _KNOWN_METHODS else "HTTP", kind=SpanKind.CLIENT,
                                      attributes=attrs)
        self._propagate(span, request)
        return span

    def _propagate(self, span: Any, request: Any) -> None:
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:
            self._textmap, self._fast = textmap, _default_propagator(textmap)
        ctx = span.get_span_context()
        if self._fast and not baggage.get_all():
            if ctx.is_valid:
                request.headers["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
                if ctx.trace_state:
                    request.headers["tracestate"] = ctx.trace_state.to_header()
            return
        propagate.inject(request.headers, context=trace.set_span_in_context(span))

    @staticmethod
    def finish(span: Any, status_code: int | None, exc: BaseException | None) -> None:
        try:
            if not span.is_recording():
                return
            if status_code is not None:
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 400:
                    span.set_attribute("error.type", str(status_code))
                    span.set_status(Status(StatusCode.ERROR))
            if exc is not None:
                span.set_attribute("error.type", type(exc).__qualname__)
                record_exception(span, exc)  # the message only when capture is on
                span.set_status(Status(StatusCode.ERROR, status_description(exc)))
        finally:
            span.end()


def install(tracer: trace.Tracer, *, capture_query: bool = False) -> Callable[[], None] | None:
    """Patch httpx's transports with lean CLIENT spans; returns the undo (None: httpx missing,
    or another instrumentation already patched them)."""
    try:
        import httpx
    except ImportError:
        return None
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        if HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
            return None  # the user's own OTel httpx instrumentation: never two spans per request
    except ImportError:
        pass
    client = _Client(tracer, capture_query)
    with _lock:
        if _installed:  # one patch per process (the first instrumented app's provider), counted
            _installed["users"] += 1
            return _restore
        sync_orig = httpx.HTTPTransport.handle_request
        async_orig = httpx.AsyncHTTPTransport.handle_async_request

        def handle_request(self: Any, request: Any) -> Any:
            span = client.start(request)
            if span is None:
                return sync_orig(self, request)
            try:
                response = sync_orig(self, request)
            except BaseException as exc:
                client.finish(span, None, exc)
                raise
            client.finish(span, response.status_code, None)
            return response

        async def handle_async_request(self: Any, request: Any) -> Any:
            span = client.start(request)
            if span is None:
                return await async_orig(self, request)
            try:
                response = await async_orig(self, request)
            except BaseException as exc:
                client.finish(span, None, exc)
                raise
            client.finish(span, response.status_code, None)
            return response

        handle_request.__wrapped__ = sync_orig  # type: ignore[attr-defined]
        handle_async_request.__wrapped__ = async_orig  # type: ignore[attr-defined]
        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
        _installed.update(sync=sync_orig, async_=async_orig, users=1)
    return _restore


def _restore() -> None:
    """One user of the patch is done; the last one puts httpx's own methods back."""
    with _lock:
        if not _installed:
            return
        _installed["users"] -= 1
        if _installed["users"] > 0:
            return
        import httpx

        httpx.HTTPTransport.handle_request = _installed["sync"]  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = _installed["async_"]  # type: ignore[method-assign]
        _installed.clear()


def installed() -> bool:
    return bool(_installed)


__all__ = ["install", "installed"]
