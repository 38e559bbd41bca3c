"""A bounded span processor that counts what it drops (it never blocks the request thread)."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

logger = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[BoundedBatchSpanProcessor] = weakref.WeakSet()
_FINISHED_DROPS = [0]


class BoundedBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor (bounded deque, background export thread) plus a drop counter.

    When the queue is full the SDK replaces the oldest queued span; this subclass counts each
    such drop in :attr:`dropped` so ``infersight_exporter_dropped_spans_total`` can expose it.
    """

    def __init__(self, exporter: SpanExporter, *, max_queue_size: int = 2048,
                 schedule_delay_millis: float = 1000.0, max_export_batch_size: int = 512,
                 export_timeout_millis: float = 10_000.0) -> None:
        super().__init__(exporter, max_queue_size=max_queue_size,
                         schedule_delay_millis=schedule_delay_millis,
                         max_export_batch_size=max_export_batch_size,
                         export_timeout_millis=export_timeout_millis)
        inner: Any = getattr(self, "_batch_processor", None)
        self._queue: Any = getattr(inner, "_queue", None)
        self._max_queue_size = max_queue_size
        self.dropped = 0
        _LIVE.add(self)

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._queue
        if queue is not None and len(queue) >= self._max_queue_size:
            ctx = span.context
            if ctx is not None and ctx.trace_flags.sampled:
                self.dropped += 1
        super().on_end(span)

    def emit_encoded(self, data: bytes) -> None:
        """Queue a span already encoded by the lean path (plain bytes: nothing for the GC to scan)."""
        inner: Any = getattr(self, "_batch_processor", None)
        queue = self._queue
        if inner is None or queue is None:
            return
        if len(queue) >= self._max_queue_size:
            self.dropped += 1
        inner.emit(data)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Flush what is queued for at most ``timeout_millis``, then stop (a dead collector
        cannot hold a shutting-down server for longer than that)."""
        if self in _LIVE:
            _FINISHED_DROPS[0] += self.dropped
            self.dropped = 0
            _LIVE.discard(self)
        inner: Any = getattr(self, "_batch_processor", None)
        if inner is not None:
            inner.shutdown(timeout_millis=timeout_millis)
        else:  # pragma: no cover - older SDKs
            super().shutdown()


def dropped_spans_total() -> int:
    """Spans dropped by every bounded processor of this process (live and shut down)."""
    return _FINISHED_DROPS[0] + sum(p.dropped for p in list(_LIVE))


__all__ = ["BoundedBatchSpanProcessor", "dropped_spans_total"]
