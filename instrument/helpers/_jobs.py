"""``traced_job``: scheduled/background jobs as INTERNAL root spans with rows/bytes/duration.

    @traced_job("payments_full_sync")          # sync or async function (APScheduler, loops)
    def sync_payments(): ...

    async with traced_job("refresh") as job:   # or `with`
        job.rows += len(batch); job.bytes += size

Inside a decorated function ``current_job()`` returns the running handle. When a decorated
function returns a sized value and set no rows, ``rows`` is its ``len()``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from infersight.instrument._errors import ConfigurationError
from infersight.instrument.helpers._sinks import Sinks
from infersight.instrument.http._redact import exception_attributes, status_description
from infersight.instrument.runtime._loopblocks import tracker_for_current_thread
from opentelemetry import context, metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_CURRENT: contextvars.ContextVar[JobRun | None] = contextvars.ContextVar("infersight_job", default=None)


# (run, its current_job() token, perf_counter_ns at start, the OTel context token making its span current)
_Frame = tuple["JobRun", "contextvars.Token[JobRun | None]", int, object]


class JobRun:
    """One run of a job; set ``rows``/``bytes`` (or ``attributes``) while it runs."""

    def __init__(self, name: str, span: trace.Span) -> None:
        self.name = name
        self.span = span
        self.rows: int | None = None
        self.bytes: int | None = None
        self.attributes: dict[str, Any] = {}
        self._tracker: Any = None  # the loop-lag monitor's JobTracker when it runs on a loop thread

    def add(self, rows: int = 0, nbytes: int = 0) -> None:
        self.rows = (self.rows or 0) + rows
        self.bytes = (self.bytes or 0) + nbytes


def current_job() -> JobRun | None:
    """The :class:`JobRun` of the ``traced_job`` running in this thread / task, or None.

    Code called from a job reports its work through it: ``current_job().add(rows=len(batch))``.
    """
    return _CURRENT.get()


class traced_job:  # noqa: N801 - used like a function/decorator
    """Trace a scheduled or background job: a decorator (sync or async) or a ``with`` block.

        @traced_job("payments_full_sync")
        def sync_payments() -> list[Row]:
            return fetch_all()               # a sized result: rows = len(result)

        async with traced_job("refresh_features") as job:
            job.add(rows=len(batch), nbytes=size)

    Each run is an INTERNAL **root** span named ``name`` (not a child of whatever request
    happens to be current) and is the current span while the job runs, so the job's own work
    (DB queries, pool waits, cache lookups, HTTP calls) nests in the job's trace instead of
    starting traces of its own. It carries ``infersight.job.name``, ``infersight.job.rows``,
    ``infersight.job.bytes``, ``infersight.job.duration_s`` and status ERROR plus an
    ``exception`` event when it raises (the exception still propagates). Metrics:
    ``infersight_job_duration_seconds{job_name, status}`` and ``infersight_job_rows`` /
    ``infersight_job_bytes{job_name}`` on ``/metrics`` and over OTLP. A run on an event loop's
    thread is attributed by the loop monitor, so a job that blocks the loop is named in the
    ``event_loop.blocked`` span. The analysis finds jobs whose runs line up with latency spikes
    (``periodic_job_interference``).

    ``attributes``: extra span attributes for every run; ``rows_from_result=False`` stops the
    ``len(result)`` default. ``tracer_provider`` / ``meter_provider`` / ``registry`` default to
    the global ones (what ``instrument_app`` set up). Telemetry failures are logged, never raised.
    """

    def __init__(self, name: str, *, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None,
                 registry: CollectorRegistry | None = None, attributes: dict[str, Any] | None = None,
                 rows_from_result: bool = True) -> None:
        if not name or not isinstance(name, str):
            raise ConfigurationError("traced_job needs a non-empty job name")
        self.name = name
        self._sinks = Sinks(tracer_provider, meter_provider, registry)
        self._attributes = dict(attributes or {})
        self._rows_from_result = rows_from_result
        # per thread / per asyncio task, so one instance can be entered concurrently
        self._stack: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar(
            f"infersight_job_frames_{name}", default=())

    # -- context manager ------------------------------------------------------------------
    def _begin(self, depth: int) -> _Frame:
        """``depth``: how many frames up from here the job's own code runs (the decorator's
        wrapper, or the ``with`` block's function), for the loop watchdog's stack attribution."""
        attrs = {"infersight.job.name": self.name, **self._attributes}
        span = self._sinks.tracer.start_span(self.name, context=Context(), kind=SpanKind.INTERNAL,
                                             attributes=attrs)
        run = JobRun(self.name, span)
        tracker = tracker_for_current_thread()  # only jobs on an event loop's thread can block it
        if tracker is not None:
            try:
                tracker.started(run, sys._getframe(depth))
                run._tracker = tracker
            except Exception:  # pragma: no cover - attribution is best effort
                logger.debug("traced_job %r: loop attribution failed", self.name, exc_info=True)
        ctx_token = context.attach(trace.set_span_in_context(span))
        return run, _CURRENT.set(run), time.perf_counter_ns(), ctx_token

    def _end(self, frame: _Frame, exc: BaseException | None) -> None:
        run, token, t0, ctx_token = frame
        if run._tracker is not None:
            run._tracker.ended(run)
        try:
            _CURRENT.reset(token)
        except ValueError:  # ended in another context (e.g. a different task)
            _CURRENT.set(None)
        try:
            context.detach(ctx_token)  # type: ignore[arg-type]
        except Exception:  # ended in another context: the OTel context is that context's own
            logger.debug("traced_job %r: its span's context ended elsewhere", self.name)
        seconds = (time.perf_counter_ns() - t0) / 1e9
        status = "error" if exc is not None else "ok"
        try:
            span = run.span
            if run.rows is not None:
                span.set_attribute("infersight.job.rows", run.rows)
            if run.bytes is not None:
                span.set_attribute("infersight.job.bytes", run.bytes)
            if run.attributes:
                span.set_attributes(run.attributes)
            span.set_attribute("infersight.job.duration_s", seconds)
            if exc is not None:
                span.record_exception(exc, attributes=exception_attributes(exc))
                span.set_status(Status(StatusCode.ERROR, status_description(exc)))
            span.end()
            prom, otel = self._sinks.prom, self._sinks.otel
            prom["infersight_job_duration_seconds"].labels(self.name, status).observe(seconds)
            attrs = {"infersight.job.name": self.name, "infersight.job.status": status}
            otel.job_duration.record(seconds, attrs)
            job_attr = {"infersight.job.name": self.name}
            if run.rows:
                prom["infersight_job_rows"].labels(self.name).inc(run.rows)
                otel.job_rows.add(run.rows, job_attr)
            if run.bytes:
                prom["infersight_job_bytes"].labels(self.name).inc(run.bytes)
                otel.job_bytes.add(run.bytes, job_attr)
        except Exception:  # the job's own outcome must not change because telemetry failed
            logger.warning("traced_job %r: recording failed", self.name, exc_info=True)

    def __enter__(self) -> JobRun:
        return self._enter(3)  # _begin <- _enter <- __enter__ <- the with block

    def _enter(self, depth: int) -> JobRun:
        frame = self._begin(depth)
        self._stack.set((*self._stack.get(), frame))
        return frame[0]

    def __exit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        frames = self._stack.get()
        self._stack.set(frames[:-1])
        self._end(frames[-1], exc)

    async def __aenter__(self) -> JobRun:
        return self._enter(3)  # _begin <- _enter <- __aenter__ <- the async with block

    async def __aexit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(et, exc, tb)

    # -- decorator ------------------------------------------------------------------------
    def _fill_rows(self, run: JobRun, result: Any) -> None:
        if self._rows_from_result and run.rows is None and hasattr(result, "__len__") \
                and not isinstance(result, (str, bytes)):
            try:
                run.rows = len(result)
            except TypeError:
                pass

    def __call__(self, func: F) -> F:
        job = self

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                frame = job._begin(1)
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    job._end(frame, exc)
                    raise
                job._fill_rows(frame[0], result)
                job._end(frame, None)
                return result

            return awrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            frame = job._begin(1)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                job._end(frame, exc)
                raise
            job._fill_rows(frame[0], result)
            job._end(frame, None)
            return result

        return wrapper  # type: ignore[return-value]


__all__ = ["traced_job", "current_job", "JobRun"]
