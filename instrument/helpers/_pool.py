"""Connection-pool wait time: ``pool.acquire`` spans and the semconv wait-time histogram.

    async with traced_pool_acquire("payments-db", size=10, in_use=lambda: pool.checkedout()):
        conn = await pool.acquire()            # the time spent in the block is the wait

    with traced_pool_acquire("payments-db", span="current"):   # your own pool span: annotate it
        conn = pool.getconn(timeout=1.0)

The acquire span (or, with ``span="current"``, the app's own span that is current) carries
``db.client.connection.pool.name``, ``db.client.connection.wait_time`` (s),
``db.client.connection.pool.size`` (``size=``), ``infersight.pool.in_use`` (``in_use()`` when the
wait began), ``infersight.pool.waiting`` (other acquires of this pool in progress then) and
``infersight.pool.timeout``. If the block raises a timeout (``TimeoutError``/
``asyncio.TimeoutError`` or any exception whose class name contains "Timeout", e.g.
SQLAlchemy's ``TimeoutError``), the acquisition is counted in
``db_client_connection_timeouts_total`` and the span is marked as an error. For
SQLAlchemy/asyncpg/psycopg the OTel DB instrumentations trace the queries themselves; this
helper adds the wait they do not show (see docs/instrument.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from infersight.instrument._errors import ConfigurationError
from infersight.instrument.helpers._sinks import Sinks
from infersight.instrument.http._redact import status_description
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

_WAITING: dict[str, int] = {}   # acquires in progress per pool name (every instance of that name)
_WAITING_LOCK = threading.Lock()


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in type(exc).__name__


_Frame = tuple[Span, int, bool, Any]  # (span, perf_counter_ns at start, ours to end, context token)


class traced_pool_acquire:  # noqa: N801 - used like a function
    """Time a connection-pool acquisition: ``with traced_pool_acquire("payments-db"):`` around
    the pool's get (sync or async). Records a ``pool.acquire`` span, the semconv
    ``db_client_connection_wait_time_seconds{pool_name}`` histogram and, when the block raises a
    timeout, ``db_client_connection_timeouts_total`` (the exception propagates).

    ``size``: the pool's size (an int, or a function returning it) and ``in_use``: a function
    returning the connections checked out now (SQLAlchemy: ``engine.pool.size`` /
    ``engine.pool.checkedout``), so a pool_saturation finding states them. ``span="current"``
    records onto the span that is current instead of starting one: for an app that already
    wraps its acquire in a span of its own (one span per wait, never two); when the current
    span is the request's SERVER span a ``pool.acquire`` span is started after all. Inside the
    block, :attr:`span` is the span being recorded onto.
    """

    def __init__(self, pool_name: str, *, size: int | Callable[[], int] | None = None,
                 in_use: Callable[[], int] | None = None, span: Literal["new", "current"] = "new",
                 tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        if not pool_name or not isinstance(pool_name, str):
            raise ConfigurationError("traced_pool_acquire needs a pool name")
        if span not in ("new", "current"):
            raise ConfigurationError(f"span must be 'new' or 'current', got {span!r}")
        if size is not None and not callable(size) and (isinstance(size, bool) or not isinstance(size, int)
                                                       or size < 1):
            raise ConfigurationError(f"size must be an int >= 1 or a function returning one, got {size!r}")
        if in_use is not None and not callable(in_use):
            raise ConfigurationError(f"in_use must be a function returning the connections in use, got {in_use!r}")
        self.pool_name = pool_name
        self._size = size
        self._in_use = in_use
        self._mode = span
        self._sinks = Sinks(tracer_provider, meter_provider, registry)
        self._attrs = {"db.client.connection.pool.name": pool_name}
        # per thread / per asyncio task, so one instance can be entered concurrently
        self._frames: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar(
            f"infersight_pool_frames_{pool_name}", default=())
        self.wait_s: float | None = None

    @property
    def span(self) -> Span | None:
        """The span this acquisition records onto (inside the block), else None."""
        frames = self._frames.get()
        return frames[-1][0] if frames else None

    def _facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = dict(self._attrs)
        with _WAITING_LOCK:
            facts["infersight.pool.waiting"] = _WAITING.get(self.pool_name, 0)
            _WAITING[self.pool_name] = _WAITING.get(self.pool_name, 0) + 1
        try:
            size = self._size() if callable(self._size) else self._size
            if size is not None:
                facts["db.client.connection.pool.size"] = int(size)
            if self._in_use is not None:
                facts["infersight.pool.in_use"] = int(self._in_use())
        except Exception:  # a pool that cannot tell: the wait is still recorded
            logger.debug("traced_pool_acquire %r: size/in_use unavailable", self.pool_name, exc_info=True)
        return facts

    def __enter__(self) -> traced_pool_acquire:
        facts = self._facts()
        current = trace.get_current_span() if self._mode == "current" else None
        if current is not None and current.is_recording() and getattr(current, "kind", None) != SpanKind.SERVER:
            current.set_attributes(facts)
            frame: _Frame = (current, time.perf_counter_ns(), False, None)
        else:
            span = self._sinks.tracer.start_span("pool.acquire", kind=SpanKind.INTERNAL, attributes=facts)
            # current while the block runs: what the pool does to hand a connection over (SQLAlchemy's
            # instrumented 'connect', a ping) nests under the wait instead of beside it
            token = otel_context.attach(trace.set_span_in_context(span))
            frame = (span, time.perf_counter_ns(), True, token)
        self._frames.set((*self._frames.get(), frame))
        return self

    def __exit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        frames = self._frames.get()
        self._frames.set(frames[:-1])
        span, t0, ours, token = frames[-1]
        wait = (time.perf_counter_ns() - t0) / 1e9
        if token is not None:
            try:
                otel_context.detach(token)
            except Exception:  # entered in another context (a task switch): nothing to restore here
                logger.debug("traced_pool_acquire %r: context not restored", self.pool_name, exc_info=True)
        self.wait_s = wait
        with _WAITING_LOCK:
            _WAITING[self.pool_name] = max(0, _WAITING.get(self.pool_name, 1) - 1)
        try:
            timed_out = exc is not None and is_timeout(exc)
            span.set_attribute("db.client.connection.wait_time", wait)
            if timed_out:
                span.set_attribute("infersight.pool.timeout", True)
            if exc is not None:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, status_description(exc)))
            if ours:
                span.end()
            prom, otel = self._sinks.prom, self._sinks.otel
            prom["db_client_connection_wait_time_seconds"].labels(self.pool_name).observe(wait)
            otel.pool_wait.record(wait, self._attrs)
            if timed_out:
                prom["db_client_connection_timeouts"].labels(self.pool_name).inc()
                otel.pool_timeouts.add(1, self._attrs)
        except Exception:
            logger.warning("traced_pool_acquire %r: recording failed", self.pool_name, exc_info=True)

    async def __aenter__(self) -> traced_pool_acquire:
        return self.__enter__()

    async def __aexit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(et, exc, tb)


__all__ = ["traced_pool_acquire", "is_timeout"]
