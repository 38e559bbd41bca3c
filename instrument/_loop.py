"""Event-loop lag: a loop task that measures how late it wakes up, plus an opt-in stack watchdog.

The task sleeps ``interval_s`` and records how much later than asked it woke (the time the
loop was busy with something else). Lags >= ``blocked_threshold_s`` are kept in a small ring
so requests that overlapped them get an ``event_loop.blocked`` span event. With
``capture_stack`` a watchdog thread grabs the loop thread's stack while it is blocked
(``sys._current_frames``: cheap, no signals) and attaches it to the event.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Span

logger = logging.getLogger(__name__)

_RING = 64


class LoopLagMonitor:
    def __init__(self, *, prom: Any = None, otel: Any = None, interval_s: float = 0.1,
                 blocked_threshold_s: float = 0.1, capture_stack: bool = False, stack_limit: int = 30,
                 on_error: Callable[[str], None] | None = None) -> None:
        if interval_s <= 0 or blocked_threshold_s <= 0:
            raise ValueError("interval_s and blocked_threshold_s must be > 0")
        self.interval_s = interval_s
        self.threshold_s = blocked_threshold_s
        self.capture_stack = capture_stack
        self._stack_limit = stack_limit
        self._prom = prom
        self._otel = otel
        self._on_error = on_error
        self.blocked_count = 0
        # ring of blocked episodes: (start_ns, end_ns, lag_s, stack or "")
        self._episodes: list[tuple[int, int, float, str]] = [(0, 0, 0.0, "")] * _RING
        self.last_wake = time.perf_counter()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._stack: tuple[float, str] | None = None  # (last_wake it belongs to, formatted stack)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start on the running loop (idempotent; call from inside the loop)."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread_id = threading.get_ident()
        self.last_wake = time.perf_counter()
        self._task = loop.create_task(self._run(), name="infersight-loop-lag")
        if self.capture_stack and self._watchdog is None:
            self._stop.clear()
            self._watchdog = threading.Thread(target=self._watch, name="infersight-loop-watchdog",
                                              daemon=True)
            self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                if self._loop is not None and self._loop.is_running() and \
                        threading.get_ident() != self._loop_thread_id:
                    self._loop.call_soon_threadsafe(task.cancel)
                else:
                    task.cancel()
            except RuntimeError:  # loop already closed
                pass
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)
            self._watchdog = None

    async def _run(self) -> None:
        interval = self.interval_s
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(interval)
            now = time.perf_counter()
            self.last_wake = now
            lag = now - t0 - interval
            if lag < 0:
                lag = 0.0
            try:
                self.record(lag, now)
            except Exception:
                logger.warning("loop-lag monitor: recording failed", exc_info=True)
                if self._on_error is not None:
                    self._on_error("event_loop")

    def record(self, lag: float, now_perf: float | None = None) -> None:
        if self._prom is not None:
            self._prom["infersight_event_loop_lag_seconds"].observe(lag)
        if self._otel is not None:
            self._otel.loop_lag.record(lag)
        if lag >= self.threshold_s:
            end_ns = time.time_ns()
            stack = ""
            captured = self._stack
            if captured is not None:
                stack = captured[1]
                self._stack = None
            self._episodes[self.blocked_count % _RING] = (end_ns - int(lag * 1e9), end_ns, lag, stack)
            self.blocked_count += 1
            if self._prom is not None:
                self._prom["infersight_event_loop_blocked"].inc()
            if self._otel is not None:
                self._otel.loop_blocked.add(1)

    def _watch(self) -> None:
        period = min(self.interval_s, self.threshold_s) / 2
        while not self._stop.wait(period):
            wake = self.last_wake
            stale = time.perf_counter() - wake - self.interval_s
            if stale >= self.threshold_s and (self._stack is None or self._stack[0] != wake):
                frame = sys._current_frames().get(self._loop_thread_id or -1)
                if frame is not None:
                    text = "".join(traceback.format_stack(frame, limit=self._stack_limit))
                    self._stack = (wake, text)

    def annotate(self, span: Span, count0: int, start_ns: int, end_ns: int) -> None:
        """Add ``event_loop.blocked`` events for episodes that overlapped [start_ns, end_ns]."""
        count1 = self.blocked_count
        for n in range(max(count0, count1 - _RING), count1):
            s, e, lag, stack = self._episodes[n % _RING]
            if s <= end_ns and e >= start_ns:
                attrs: dict[str, Any] = {"lag_ms": lag * 1e3}
                if stack:
                    attrs["stack"] = stack
                span.add_event("event_loop.blocked", attrs, timestamp=s)
        if self.running:
            # the loop may be blocked right now (e.g. by this request's own sync code)
            stale = time.perf_counter() - self.last_wake - self.interval_s
            if stale >= self.threshold_s:
                attrs = {"lag_ms": stale * 1e3, "in_progress": True}
                captured = self._stack
                if captured is not None and captured[0] == self.last_wake:
                    attrs["stack"] = captured[1]
                span.add_event("event_loop.blocked", attrs, timestamp=end_ns - int(stale * 1e9))


__all__ = ["LoopLagMonitor"]
