"""The pure-ASGI request middleware: SERVER span, RED metrics, GC/loop annotations, health, /metrics.

In ``lean`` mode it makes the SERVER span itself on the OTel API; in ``contrib`` mode the
opentelemetry-instrumentation-fastapi middleware (outside this one) makes it and this one
annotates the current span. Everything telemetry does after the app returned is guarded:
a failure is logged and counted, never raised into the request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from infersight.instrument._state import Instrumentation
from infersight.instrument.http._arrival import header_value, set_queued
from infersight.instrument.http._asgi import GETTER, log_hook_failure, redact_query, respond, route_template
from infersight.instrument.http._health import json_bytes
from infersight.instrument.http._redact import UNMATCHED_PATH, exception_attributes, status_description
from infersight.instrument.metrics._families import normalize_method, status_class
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

logger = logging.getLogger(__name__)

_W3C_FIELDS = frozenset({"traceparent", "tracestate", "baggage"})
_UNMATCHED = "_unmatched"
_HOSTS: dict[str, tuple[str, int | None]] = {}


class InfersightMiddleware:
    def __init__(self, app: Any, state: Instrumentation) -> None:
        self.app = app
        self.state = state
        fields = set(getattr(propagate.get_global_textmap(), "fields", ()) or ())
        # Skip extraction when no propagation header came in (only safe for W3C propagators).
        self._fast_extract = bool(fields) and fields <= _W3C_FIELDS
        # ASGI header names are lower-case bytes: decode only the ones spans and propagation read
        # (all of them when a custom propagator might need any).
        self._wanted: frozenset[bytes] | None = (
            frozenset(f.encode() for f in fields) | {b"host", b"user-agent", b"x-request-start", b"x-queue-start"}
            if self._fast_extract else None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        st = self.state
        kind = scope["type"]
        if kind != "http" or not st.enabled:
            if kind == "lifespan" and st.enabled:
                await self.app(scope, self._lifespan_receive(receive), self._lifespan_send(send))
                return
            await self.app(scope, receive, send)
            return
        loop_mon = st.loop
        if loop_mon is not None and not loop_mon.running:
            loop_mon.start()
        path = scope["path"]
        if path == st.metrics_path:
            await self._metrics(scope, send)
            return
        if path == st.live_path or path == st.ready_path:
            if not st.trace_health:
                await self._health(path, send)
                return
        await self._traced(scope, receive, send)

    def _lifespan_receive(self, receive: Any) -> Any:
        st = self.state

        async def wrapped() -> Any:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup" and st.loop is not None:
                st.loop.start()
            elif kind == "lifespan.shutdown" and st.loop is not None:
                st.loop.stop()
            return message

        return wrapped

    def _lifespan_send(self, send: Any) -> Any:
        """After the app's own shutdown handlers: flush the telemetry infersight owns, so a server
        stopped by SIGTERM (uvicorn re-raises it after shutdown: no atexit runs) loses nothing."""
        st = self.state

        async def wrapped(message: dict[str, Any]) -> None:
            if message.get("type") == "lifespan.shutdown.complete" and st._flushers:
                try:
                    await asyncio.to_thread(st.flush)
                except Exception:
                    logger.warning("infersight: flushing telemetry at shutdown failed", exc_info=True)
            await send(message)

        return wrapped

    # -- the request path ----------------------------------------------------------------
    async def _traced(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        st = self.state
        start_perf = time.perf_counter_ns()
        raw_method = scope["method"]
        method = normalize_method(raw_method)
        active = st.prom.active(method)
        active.inc()
        gc_mon, loop_mon = st.gc, st.loop
        gc_count0 = gc_mon.count if gc_mon is not None else 0
        gc_total0 = gc_mon.total_pause_ns if gc_mon is not None else 0
        queued_from = None
        if loop_mon is not None:
            lag_count0 = loop_mon.blocked_count
            if loop_mon.window is None and start_perf - loop_mon.due_ns < loop_mon.threshold_ns:
                loop_mon.alive_ns = start_perf  # a sign of life: the loop is not blocked before this
            else:  # right after a block: this request may have waited in the socket for it
                queued_from = loop_mon.queued_since(start_perf)
                if queued_from is not None:
                    queued_from = loop_mon.wall_ns(queued_from)
        else:
            lag_count0 = 0
        root0 = scope.get("root_path", "") or ""
        token = None
        outer = None
        tracer = st.tracer
        if tracer is not None:
            span, parent, request_start = self._start_span(tracer, scope, raw_method, method)
            outer = otel_context.get_current()
            token = otel_context.attach(trace.set_span_in_context(span, parent))
        else:
            span = trace.get_current_span()
            request_start = header_value(scope.get("headers"))
        arrival = (request_start, queued_from) if request_start is not None or queued_from is not None else None
        start_ns = time.time_ns()
        hook_states = self._hooks_start(span, start_ns) if st.hooks else None
        status = [0, 0, 0]  # status code, body bytes, span annotated (contrib ends it on the last body)
        contrib = tracer is None

        async def send_wrapper(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                status[0] = message["status"]
            elif kind == "http.response.body":
                status[1] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    if contrib and not status[2]:
                        status[2] = 1
                        try:
                            if not st.capture_paths and route_template(scope, root0) is None and span.is_recording():
                                span.set_attribute("url.path", UNMATCHED_PATH)
                            self._annotate(span, gc_count0, gc_total0, lag_count0, start_ns, time.time_ns(),
                                           hook_states, arrival)
                        except Exception:
                            logger.warning("infersight: annotating the request span failed", exc_info=True)
                            st.hook_failed("middleware")
                    elif token is not None:
                        # The server schedules its keep-alive timer inside this call (uvicorn:
                        # loop.call_later in on_response_complete), and a timer keeps a copy of
                        # the current context until the event loop purges it, ~100 requests
                        # later. Sent in the context from before the request, that copy holds
                        # no span; otherwise every request's span outlives it, gets promoted
                        # to the old GC generation and sets off a full collection (40-50 ms
                        # stall) every few seconds under load.
                        inner = otel_context.attach(outer)  # type: ignore[arg-type]
                        try:
                            await send(message)
                        finally:
                            otel_context.detach(inner)
                        return
            await send(message)

        exc: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as e:
            exc = e
            if contrib and isinstance(e, Exception):
                _contrib_exception(span, e)
            raise
        finally:
            try:
                self._finish(scope, span, method, root0, status, exc, start_perf, start_ns,
                             gc_count0, gc_total0, lag_count0, hook_states, arrival)
            except Exception:
                logger.warning("infersight: finishing request telemetry failed", exc_info=True)
                st.hook_failed("middleware")
            finally:
                active.dec()
                if token is not None:
                    otel_context.detach(token)

    def _start_span(self, tracer: Any, scope: dict[str, Any], raw_method: str,
                    method: str) -> tuple[Any, Any, str | None]:
        headers: dict[str, str] = {}
        wanted = self._wanted
        for k, v in scope.get("headers") or ():
            if wanted is not None and k not in wanted:
                continue
            key = k.decode("latin-1").lower()
            if key in headers:
                headers[key] = headers[key] + "," + v.decode("latin-1")
            else:
                headers[key] = v.decode("latin-1")
        if self._fast_extract and "traceparent" not in headers and "baggage" not in headers:
            parent = None
        else:
            parent = propagate.extract(headers, getter=GETTER)
        attrs: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        }
        if method != raw_method:
            attrs["http.request.method_original"] = raw_method
        host = headers.get("host")
        if host:
            parsed = _HOSTS.get(host)
            if parsed is None:
                name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
                parsed = (name or host, int(port) if port.isdigit() else None)
                if len(_HOSTS) < 256:  # a handful of Host values in practice; never unbounded
                    _HOSTS[host] = parsed
            attrs["server.address"] = parsed[0]
            if parsed[1] is not None:
                attrs["server.port"] = parsed[1]
        else:
            server = scope.get("server")
            if server:
                attrs["server.address"] = server[0]
                if server[1] is not None:
                    attrs["server.port"] = server[1]
        query = scope.get("query_string")
        if query:
            text = query.decode("latin-1")
            attrs["url.query"] = text if self.state.capture_query else redact_query(text)
        version = scope.get("http_version")
        if version:
            attrs["network.protocol.version"] = version
        client = scope.get("client")
        if client:
            attrs["client.address"] = client[0]
        agent = headers.get("user-agent")
        if agent:
            attrs["user_agent.original"] = agent
        request_start = headers.get("x-request-start") or headers.get("x-queue-start")
        lean = self.state._lean
        if lean is not None:
            return lean.start_span(method, parent, SpanKind.SERVER, attrs), parent, request_start
        return (tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attrs), parent,
                request_start)

    def _hooks_start(self, span: Any, start_ns: int) -> list[Any]:
        states = []
        for hook in self.state.hooks:
            try:
                states.append(hook.on_request_start(span, start_ns))
            except Exception:
                log_hook_failure(hook, "start")
                self.state.hook_failed(type(hook).__name__)
                states.append(None)
        return states

    def _finish(self, scope: dict[str, Any], span: Any, method: str, root0: str, status: list[int],
                exc: BaseException | None, start_perf: int, start_ns: int, gc_count0: int,
                gc_total0: int, lag_count0: int, hook_states: list[Any] | None,
                arrival: tuple[str | None, int | None] | None) -> None:
        st = self.state
        code = status[0] or 500
        route = route_template(scope, root0)
        if st.tracer is not None and span.is_recording():
            if route is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            elif not st.capture_paths:
                span.set_attribute("url.path", UNMATCHED_PATH)  # the raw path is whatever was sent
            span.set_attribute("http.response.status_code", code)
            if exc is not None:
                span.record_exception(exc, attributes=exception_attributes(exc))
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, status_description(exc)))
            elif code >= 500:
                span.set_attribute("error.type", str(code))
                span.set_status(Status(StatusCode.ERROR))
        if not status[2]:
            status[2] = 1
            self._annotate(span, gc_count0, gc_total0, lag_count0, start_ns, time.time_ns(), hook_states, arrival)
        if st.tracer is not None:
            span.end()
        seconds = (time.perf_counter_ns() - start_perf) / 1e9
        klass = status_class(code)
        label_route = route if route is not None else _UNMATCHED
        duration, requests, size = st.prom.http_children(method, label_route, klass)
        ctx = span.get_span_context()
        if ctx.trace_flags.sampled:
            duration.observe(seconds, {"trace_id": format(ctx.trace_id, "032x")})
        else:
            duration.observe(seconds)
        requests.inc()
        size.observe(status[1])
        if st.otel is not None:
            scheme = scope.get("scheme", "http")
            error = (type(exc).__qualname__ if exc is not None else str(code)) if code >= 500 else None

            def attributes() -> dict[str, Any]:
                attrs: dict[str, Any] = {"http.request.method": method, "http.response.status_code": code,
                                         "url.scheme": scheme}
                if route is not None:
                    attrs["http.route"] = route
                if error is not None:
                    attrs["error.type"] = error
                return attrs

            local = st._local_http
            if local is not None:
                local.record((method, route, code, scheme, error), attributes, seconds)
            else:
                st.otel.http_duration.record(seconds, attributes())

    def _annotate(self, span: Any, gc_count0: int, gc_total0: int, lag_count0: int, start_ns: int,
                  end_ns: int, hook_states: list[Any] | None,
                  arrival: tuple[str | None, int | None] | None = None) -> None:
        """GC/loop-lag/arrival annotations and request hooks, while the SERVER span is still open."""
        st = self.state
        if span.is_recording():
            if st.gc is not None:
                st.gc.annotate(span, gc_count0, gc_total0)
            if st.loop is not None:
                st.loop.annotate(span, lag_count0, start_ns, end_ns)
            if arrival is not None:
                set_queued(span, getattr(span, "start_time", None) or start_ns, arrival[0], arrival[1])
        if hook_states is not None:
            for hook, hstate in zip(st.hooks, hook_states, strict=False):
                try:
                    hook.on_request_end(span, hstate, start_ns, end_ns)
                except Exception:
                    log_hook_failure(hook, "end")
                    st.hook_failed(type(hook).__name__)

    # -- endpoints served by the middleware ----------------------------------------------
    async def _health(self, path: str, send: Any) -> None:
        st = self.state
        if path == st.live_path:
            await respond(send, 200, b'{"status":"ok"}', b"application/json")
            return
        ready, body = await st.readiness.evaluate()
        st.prom["infersight_ready"].set(1 if ready else 0)
        await respond(send, 200 if ready else 503, json_bytes(body), b"application/json")

    async def _metrics(self, scope: dict[str, Any], send: Any) -> None:
        st = self.state
        accept = ""
        for k, v in scope.get("headers") or ():
            if k.lower() == b"accept":
                accept = v.decode("latin-1")
        loop = asyncio.get_running_loop()

        def render() -> tuple[bytes, str]:
            if st.gc is not None:
                st.gc.drain()
            return st.exposition.render(accept)

        body, content_type = await loop.run_in_executor(None, render)
        await respond(send, 200, body, content_type.encode())


def _contrib_exception(span: Any, exc: Exception) -> None:
    """Contrib mode: the exception is about to leave through the contrib middleware, which records
    it with its message (``trace.use_span``). Record it here with the message left out unless
    captured, and make this span ignore contrib's second record and message-bearing status."""
    from infersight.instrument.http._redact import capture_exception_messages

    if capture_exception_messages() or not span.is_recording():
        return
    try:
        span.record_exception(exc, attributes=exception_attributes(exc, escaped=True))
        record, set_status = span.record_exception, span.set_status

        def record_once(exception: BaseException, *args: Any, **kwargs: Any) -> None:
            if exception is not exc:
                record(exception, *args, **kwargs)

        def status_without_message(status: Any, description: str | None = None) -> None:
            if isinstance(status, Status) and status.status_code is StatusCode.ERROR and status.description:
                status = Status(StatusCode.ERROR, type(exc).__name__)
                description = None
            set_status(status, description)

        span.record_exception = record_once
        span.set_status = status_without_message
    except Exception:  # a span type we cannot adjust: contrib records it as it always did
        logger.debug("infersight: cannot redact the exception on %r", span, exc_info=True)


__all__ = ["InfersightMiddleware", "redact_query", "route_template"]
