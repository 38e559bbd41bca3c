"""Blocked event-loop intervals as data: which job ran on the loop, and one span per block.

:class:`JobTracker` knows the ``traced_job`` runs that execute *on the loop thread* (jobs in
worker threads cannot block the loop and are not tracked): their start/end (perf ns) and the
frame each one runs in, so the stack watchdog can name the job whose code is on the loop
thread's stack while it is blocked (``stack`` attribution), and the monitor can otherwise pick
the job whose run overlapped the block (``overlap`` attribution).

:class:`BlockExporter` turns blocks into ``event_loop.blocked`` spans. The loop thread only
writes one tuple into a fixed ring and sets an event (O(1)); the monitor's background thread
makes the spans (start/end = the blocked interval; a child of the job's span when the job is
known, else a root span). A block the thread could not drain before the ring wrapped is lost
and counted in ``infersight_exporter_dropped_spans``.
"""

from __future__ import annotations

import logging
import threading
import time
from types import FrameType
from typing import Any

from infersight.instrument.export._processor import count_lost_spans
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanKind, Tracer

logger = logging.getLogger(__name__)

_ROOT = Context()  # a block with no known job is its own root span
_OPEN_MAX = 64      # job runs tracked at once on one loop (more are not attributed)
_RECENT = 16        # ended runs kept for overlap attribution
SPAN_NAME = "event_loop.blocked"

# loop thread id -> the JobTracker of the monitor running on that loop
_BY_THREAD: dict[int, JobTracker] = {}


class JobTracker:
    """``traced_job`` runs on one loop thread; written by the loop thread, read by the watchdog."""

    def __init__(self) -> None:
        self.frames: dict[int, Any] = {}               # id(frame) -> JobRun, while the run is open
        self._open: dict[int, tuple[Any, int, int]] = {}  # id(run) -> (run, begin_ns, id(frame))
        self._recent: list[tuple[Any, int, int] | None] = [None] * _RECENT
        self._n_recent = 0
        self.alive_hook: Any = None                    # the monitor: job starts are signs of life

    def started(self, run: Any, frame: FrameType | None) -> None:
        if len(self._open) >= _OPEN_MAX:
            return
        now = time.perf_counter_ns()
        fid = id(frame) if frame is not None else 0
        self._open[id(run)] = (run, now, fid)
        if fid:
            self.frames[fid] = run
        hook = self.alive_hook
        if hook is not None:
            hook.saw_alive(now)

    def ended(self, run: Any) -> None:
        entry = self._open.pop(id(run), None)
        if entry is None:
            return
        _, begin, fid = entry
        if fid:
            self.frames.pop(fid, None)
        self._recent[self._n_recent % _RECENT] = (run, begin, time.perf_counter_ns())
        self._n_recent += 1

    def on_stack(self, frame: FrameType | None) -> Any:
        """The innermost tracked job whose frame is on this (loop thread's) stack, or None."""
        frames = self.frames
        if not frames:
            return None
        f = frame
        while f is not None:
            run = frames.get(id(f))
            if run is not None:
                return run
            f = f.f_back
        return None

    def overlapping(self, start_ns: int, end_ns: int) -> Any:
        """The job run that overlapped [start_ns, end_ns] most (runs that began or ended inside
        it first: a job merely awaiting across the block is a weaker suspect), or None."""
        best, best_key = None, (False, 0)
        candidates = [(run, b, end_ns) for run, b, _ in list(self._open.values())]
        candidates += [r for r in self._recent if r is not None]
        for run, b, e in candidates:
            overlap = min(e, end_ns) - max(b, start_ns)
            if overlap <= 0:
                continue
            key = (start_ns <= b <= end_ns or start_ns <= e < end_ns, overlap)
            if key > best_key:
                best, best_key = run, key
        return best


def tracker_for_current_thread() -> JobTracker | None:
    return _BY_THREAD.get(threading.get_ident())


def register(thread_id: int, tracker: JobTracker) -> None:
    _BY_THREAD[thread_id] = tracker


def unregister(thread_id: int, tracker: JobTracker) -> None:
    if _BY_THREAD.get(thread_id) is tracker:
        del _BY_THREAD[thread_id]


class BlockExporter:
    """A fixed ring of blocks (written on the loop) drained into spans by a background thread."""

    def __init__(self, tracer: Tracer, ring_size: int = 64) -> None:
        self.tracer = tracer
        self.ring_size = ring_size
        self._ring: list[tuple[Any, ...] | None] = [None] * ring_size
        self.count = 0
        self._drained = 0
        self.exported = 0
        self.lost = 0
        self._lock = threading.Lock()  # between drains (thread vs. stop()), never taken on the loop

    def push(self, block: tuple[Any, ...]) -> None:
        """O(1), on the loop thread: ``(start_ns, end_ns, blocked_ms, lag_ms, stack, job, attribution)``."""
        self._ring[self.count % self.ring_size] = block
        self.count += 1

    @property
    def pending(self) -> bool:
        return self.count != self._drained

    def drain(self) -> int:
        with self._lock:
            end, start = self.count, self._drained
            if end - start > self.ring_size:
                missed = end - start - self.ring_size
                self.lost += missed
                count_lost_spans(missed)
                logger.warning("loop-lag monitor: %d blocked intervals overwrote the ring before export", missed)
                start = end - self.ring_size
            self._drained = end
            for n in range(start, end):
                block = self._ring[n % self.ring_size]
                if block is None:
                    continue
                try:
                    self._emit(*block)
                    self.exported += 1
                except Exception:  # telemetry never raises into the process
                    self.lost += 1
                    count_lost_spans(1)
                    logger.warning("loop-lag monitor: exporting a blocked interval failed", exc_info=True)
            return end - start

    def _emit(self, start_ns: int, end_ns: int, blocked_ms: float, lag_ms: float, stack: str, job: Any,
              attribution: str) -> None:
        attrs: dict[str, Any] = {"infersight.loop.blocked_ms": blocked_ms, "infersight.loop.lag_ms": lag_ms}
        context = _ROOT
        if job is not None:
            attrs["infersight.job.name"] = job.name
            attrs["infersight.job.attribution"] = attribution
            ctx = job.span.get_span_context()
            if ctx.is_valid:
                context = trace.set_span_in_context(NonRecordingSpan(ctx), _ROOT)
        if stack:
            attrs["code.stacktrace"] = stack
        span = self.tracer.start_span(SPAN_NAME, context=context, kind=SpanKind.INTERNAL, attributes=attrs,
                                      start_time=start_ns)
        span.end(end_time=end_ns)


__all__ = ["BlockExporter", "JobTracker", "SPAN_NAME", "register", "tracker_for_current_thread", "unregister"]
