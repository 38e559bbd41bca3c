"""Connection-pool wait time: ``pool.acquire`` spans and the semconv wait-time histogram.

    async with traced_pool_acquire("payments-db"):
        conn = await pool.acquire()            # the time spent in the block is the wait

    with traced_pool_acquire("payments-db") as acq:
        conn = pool.getconn(timeout=1.0)

If the block raises a timeout (``TimeoutError``/``asyncio.TimeoutError`` or any exception
whose class name contains "Timeout", e.g. SQLAlchemy's ``TimeoutError``), the acquisition is
counted in ``db_client_connection_timeouts_total`` and the span is marked as an error.
For SQLAlchemy/asyncpg/psycopg the OTel DB instrumentations trace the queries themselves;
this helper adds the wait they do not show (see docs/metrics.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

from infersight.instrument._errors import ConfigurationError
from infersight.instrument._providers import Sinks
from infersight.instrument._redact import status_description
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in type(exc).__name__


class traced_pool_acquire:  # noqa: N801 - used like a function
    """Time a connection-pool acquisition: ``with traced_pool_acquire("payments-db"):`` around
    the pool's get (sync or async). Records a ``pool.acquire`` span, the semconv
    ``db_client_connection_wait_time_seconds{pool_name}`` histogram and, when the block raises a
    timeout, ``db_client_connection_timeouts_total`` (the exception propagates)."""

    def __init__(self, pool_name: str, *, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        if not pool_name:
            raise ConfigurationError("traced_pool_acquire needs a pool name")
        self.pool_name = pool_name
        self._sinks = Sinks(tracer_provider, meter_provider, registry)
        self._attrs = {"db.client.connection.pool.name": pool_name}
        # per thread / per asyncio task, so one instance can be entered concurrently
        self._frames: contextvars.ContextVar[tuple[tuple[Any, int], ...]] = contextvars.ContextVar(
            f"infersight_pool_frames_{pool_name}", default=())
        self.wait_s: float | None = None

    def __enter__(self) -> traced_pool_acquire:
        span = self._sinks.tracer.start_span("pool.acquire", kind=SpanKind.INTERNAL, attributes=self._attrs)
        self._frames.set((*self._frames.get(), (span, time.perf_counter_ns())))
        return self

    def __exit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        frames = self._frames.get()
        self._frames.set(frames[:-1])
        span, t0 = frames[-1]
        wait = (time.perf_counter_ns() - t0) / 1e9
        self.wait_s = wait
        try:
            timed_out = exc is not None and is_timeout(exc)
            span.set_attribute("db.client.connection.wait_time", wait)
            if exc is not None:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, status_description(exc)))
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
