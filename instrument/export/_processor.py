"""A bounded span processor that counts every span it does not deliver (it never blocks requests).

A span that ended is either delivered (the exporter reported success) or counted in
:func:`dropped_spans_total`: overwritten in the full queue, in a batch the exporter gave up
on (collector down, error status, timeout), left in the queue when shutdown ran out of time,
or ended after shutdown.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from infersight.instrument._sdk_compat import batch_view, bounded_batch_shutdown
from infersight.instrument.export._health import HEALTH
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[BoundedBatchSpanProcessor] = weakref.WeakSet()
_FINISHED_DROPS = [0]
_LOCK = threading.Lock()  # taken only when counting a drop, never on the delivery path


class _CountingExporter:
    """Sits between the SDK's batch worker and the real exporter; counts failed batches."""

    def __init__(self, exporter: SpanExporter, owner: BoundedBatchSpanProcessor) -> None:
        self.exporter = exporter
        self._owner = weakref.ref(owner)
        self._shutdown_takes_timeout = "timeout_millis" in inspect.getfullargspec(exporter.shutdown).args

    def _lost(self, n: int) -> None:
        owner = self._owner()
        if owner is not None:
            owner._count_drop(n)
        else:
            with _LOCK:
                _FINISHED_DROPS[0] += n

    def export(self, batch: Sequence[Any]) -> SpanExportResult:
        try:
            result = self.exporter.export(batch)
        except BaseException:
            self._lost(len(batch))
            raise
        if result is not SpanExportResult.SUCCESS:
            self._lost(len(batch))
        else:
            HEALTH.success()  # after an outage: one line that the collector answers again
        return result

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if self._shutdown_takes_timeout:
            self.exporter.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
        else:
            self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.exporter.force_flush(timeout_millis))


class BoundedBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor (bounded deque, background export thread) plus a drop counter.

    When the queue is full the SDK replaces the oldest queued span; failed exports, spans
    still queued when :meth:`shutdown` gives up and spans ended after it are lost too. Each
    is counted in :attr:`dropped` so ``infersight_exporter_dropped_spans_total`` shows it.
    """

    def __init__(self, exporter: SpanExporter, *, max_queue_size: int = 2048,
                 schedule_delay_millis: float = 1000.0, max_export_batch_size: int = 512,
                 export_timeout_millis: float = 10_000.0) -> None:
        self.dropped = 0
        self._finished = False
        counting = _CountingExporter(exporter, self)
        super().__init__(counting, max_queue_size=max_queue_size,  # type: ignore[arg-type]
                         schedule_delay_millis=schedule_delay_millis,
                         max_export_batch_size=max_export_batch_size,
                         export_timeout_millis=export_timeout_millis)
        self._exporter = exporter
        self._view = batch_view(self)
        self._queue: Any = self._view.queue
        self._max_queue_size = max_queue_size
        _LIVE.add(self)

    @property
    def exporter(self) -> SpanExporter:
        """The exporter this processor was built with (not the counting wrapper around it)."""
        return self._exporter

    def _count_drop(self, n: int) -> None:
        with _LOCK:
            if self._finished:
                _FINISHED_DROPS[0] += n
            else:
                self.dropped += n

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._queue
        if queue is not None and (len(queue) >= self._max_queue_size or self._view.is_shut_down()):
            ctx = span.context
            if ctx is not None and ctx.trace_flags.sampled:
                self._count_drop(1)
        super().on_end(span)

    def emit_encoded(self, data: bytes) -> None:
        """Queue a span already encoded by the lean path (plain bytes: nothing for the GC to scan)."""
        emit = self._view.emit
        queue = self._queue
        if emit is None or queue is None:
            self._count_drop(1)
            return
        if len(queue) >= self._max_queue_size or self._view.is_shut_down():
            self._count_drop(1)
        emit(data)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Flush what is queued for at most ``timeout_millis``, then stop (a dead collector
        cannot hold a shutting-down server for longer than that). What is still queued then
        is counted as dropped."""
        if self._finished:
            return
        if not bounded_batch_shutdown(self, timeout_millis):  # older SDKs: no bound on the flush
            super().shutdown()  # type: ignore[no-untyped-call]
        left = self._undelivered_after_shutdown()
        with _LOCK:
            if self._finished:
                return
            _FINISHED_DROPS[0] += self.dropped + left
            self.dropped = 0
            self._finished = True
            _LIVE.discard(self)
        if left:
            logger.warning("infersight: %d span(s) were still queued when the exporter shut down "
                           "(timeout %.0f ms); counted in infersight_exporter_dropped_spans_total",
                           left, timeout_millis)

    def _undelivered_after_shutdown(self) -> int:
        """Spans left in the queue once the SDK's worker stopped exporting (it never pops again)."""
        queue = self._queue
        if queue is None or not queue:
            return 0
        if self._view.worker_alive():
            # Still inside its last export (which is counted by _CountingExporter when it fails);
            # it pops nothing more after shutdown, so what is queued now stays undelivered.
            return len(queue)
        left = len(queue)
        queue.clear()
        return left


def count_lost_spans(n: int) -> None:
    """Count spans that never reached a processor (e.g. a telemetry ring overwritten before export)."""
    with _LOCK:
        _FINISHED_DROPS[0] += n


def dropped_spans_total() -> int:
    """Spans not delivered by every bounded processor of this process (live and shut down)."""
    with _LOCK:
        return _FINISHED_DROPS[0] + sum(p.dropped for p in list(_LIVE))


__all__ = ["BoundedBatchSpanProcessor", "count_lost_spans", "dropped_spans_total"]
