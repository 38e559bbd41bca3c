"""Event-loop lag and blocked intervals: a loop timer that measures how late it fires, plus a watchdog.

Every ``interval_s`` a timer callback (``loop.call_at``: no task, no future) records how much
later than due it ran, the time the loop was busy with something else. A lag >=
``blocked_threshold_s`` is a *block*:

- it is kept in a small ring, so requests that overlapped it get an ``event_loop.blocked``
  span event (:meth:`LoopLagMonitor.annotate`);
- with a tracer it becomes an ``event_loop.blocked`` span (:mod:`._loopblocks`), named after
  the ``traced_job`` that ran on the loop when one is known;
- requests that start right after it (while the monitor was overdue, or within a few loop
  iterations after the timer saw the block) queued behind it: :meth:`queued_since` gives the
  block's estimated start, from which the middleware sets ``infersight.loop.queued_ms``.

How precise a block is: the timer fires late by ``lag`` (a lower bound of the block: the loop
was stuck at least from the due time to the firing). The block began somewhere between the
previous tick and the due time; its estimated start is the last *sign of life* of the loop
before it: the previous tick, a request that started, or a ``traced_job`` that began on the
loop thread (for a sync job blocking the loop, that is the block's exact start). So
``blocked_ms`` <= ``lag_ms + interval``; when one callback blocked, the true block lies within
[``lag_ms``, ``blocked_ms``]. When the loop was busy with many callbacks instead (it showed a
sign of life after the due time), ``blocked_ms`` (since that sign) can be below ``lag_ms``.
Blocks shorter than the threshold, or that ended before the timer was due, are not seen.

With ``capture_stack`` a watchdog thread grabs the loop thread's stack while it is blocked
(``sys._current_frames``: cheap, no signals) and the job whose frame is on that stack.
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

from infersight.instrument._errors import ConfigurationError
from infersight.instrument.runtime._loopblocks import BlockExporter, JobTracker, register, unregister
from opentelemetry.trace import Span, Tracer

logger = logging.getLogger(__name__)

_RING = 64
_NEVER = 1 << 62          # due time while stopped: no request ever looks "overdue"
_WINDOW_HOPS = 8          # loop iterations after a block during which starting requests queued behind it


class LoopLagMonitor:
    def __init__(self, *, prom: Any = None, otel: Any = None, tracer: Tracer | None = None,
                 interval_s: float = 0.1, blocked_threshold_s: float = 0.1, capture_stack: bool = False,
                 stack_limit: int = 30, on_error: Callable[[str], None] | None = None) -> None:
        if interval_s <= 0 or blocked_threshold_s <= 0:
            raise ConfigurationError("interval_s and blocked_threshold_s must be > 0")
        self.interval_s = interval_s
        self.threshold_s = blocked_threshold_s
        self.interval_ns = int(interval_s * 1e9)
        self.threshold_ns = int(blocked_threshold_s * 1e9)
        self.capture_stack = capture_stack
        self._stack_limit = stack_limit
        self._prom = prom
        self._otel = otel
        self._on_error = on_error
        self.blocked_count = 0
        # ring of blocks for span events: (lag_start_ns, end_ns, lag_s, stack) in wall-clock ns
        self._episodes: list[tuple[int, int, float, str]] = [(0, 0, 0.0, "")] * _RING
        self.last_tick_ns = time.perf_counter_ns()  # perf ns of the last timer run
        self._anchor = (time.time_ns(), self.last_tick_ns)  # (wall ns, perf ns) read together
        self.due_ns = _NEVER                         # perf ns the next timer run is due
        self.alive_ns = 0                            # last sign of life of the loop (perf ns)
        self.window: tuple[int, int] | None = None  # (block start, block end) perf ns, just after a block
        self._window_gen = 0
        self._hops = 0
        self.jobs = JobTracker()
        self.jobs.alive_hook = self
        self.blocks = BlockExporter(tracer) if tracer is not None else None
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # the watchdog's sample of the current block: (last_tick_ns it belongs to, stack, job)
        self._sample: tuple[int, str, Any] | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    @property
    def last_wake(self) -> float:  # seconds (perf_counter), as earlier versions exposed it
        return self.last_tick_ns / 1e9

    def start(self) -> None:
        """Start on the running loop (idempotent; call from inside the loop)."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread_id = threading.get_ident()
        register(self._loop_thread_id, self.jobs)
        now = time.perf_counter_ns()
        self.last_tick_ns = now
        self.due_ns = now + self.interval_ns
        self._handle = loop.call_at(loop.time() + self.interval_s, self._tick)
        if (self.capture_stack or self.blocks is not None) and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="infersight-loop-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        handle, self._handle = self._handle, None
        self.due_ns = _NEVER
        self.window = None
        if self._loop_thread_id is not None:
            unregister(self._loop_thread_id, self.jobs)
        if handle is not None:
            try:
                if self._loop is not None and self._loop.is_running() and \
                        threading.get_ident() != self._loop_thread_id:
                    self._loop.call_soon_threadsafe(handle.cancel)
                else:
                    handle.cancel()
            except RuntimeError:  # loop already closed
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self.blocks is not None and self.blocks.pending:
            self.blocks.drain()

    # -- the timer (on the loop) -----------------------------------------------------------
    def _tick(self) -> None:
        now = time.perf_counter_ns()
        wall = time.time_ns()
        after = time.perf_counter_ns()
        if after - now < 200_000:  # not preempted between the two reads: a good pair
            self._anchor = (wall, (now + after) // 2)
        prev, due = self.last_tick_ns, self.due_ns
        self.last_tick_ns = now
        self.due_ns = now + self.interval_ns
        loop = self._loop
        if loop is not None and self._handle is not None:
            self._handle = loop.call_at(loop.time() + self.interval_s, self._tick)
        lag_ns = now - due if now > due else 0
        try:
            self.record(lag_ns / 1e9, now, prev)
        except Exception:
            logger.warning("loop-lag monitor: recording failed", exc_info=True)
            if self._on_error is not None:
                self._on_error("event_loop")

    def wall_ns(self, perf_ns: int) -> int:
        """Unix ns of a ``perf_counter_ns`` reading (one clock pair per tick: every conversion
        between two ticks agrees, so a block and the requests behind it line up exactly)."""
        wall, perf = self._anchor
        return wall + (perf_ns - perf)

    def saw_alive(self, now_ns: int) -> None:
        self.alive_ns = now_ns

    def block_start(self, prev_tick_ns: int) -> int:
        """Estimated start (perf ns) of the block the timer just saw: the last sign of life."""
        alive = self.alive_ns
        return alive if alive > prev_tick_ns else prev_tick_ns

    def record(self, lag: float, now_ns: int | None = None, prev_tick_ns: int | None = None) -> None:
        if self._prom is not None:
            self._prom["infersight_event_loop_lag_seconds"].observe(lag)
        if self._otel is not None:
            self._otel.loop_lag.record(lag)
        if lag < self.threshold_s:
            return
        end_perf = now_ns if now_ns is not None else time.perf_counter_ns()
        lag_ns = int(lag * 1e9)
        due = end_perf - lag_ns
        start_perf = self.block_start(prev_tick_ns if prev_tick_ns is not None else due - self.interval_ns)
        end_ns = self.wall_ns(end_perf)
        stack, job, attribution = "", None, ""
        sample = self._sample
        if sample is not None and prev_tick_ns is not None and sample[0] == prev_tick_ns:
            # the watchdog saw the loop thread's stack during this block: it is authoritative
            stack, job = sample[1], sample[2]
            attribution = "stack" if job is not None else ""
            self._sample = None
        else:
            job = self.jobs.overlapping(start_perf, end_perf)
            attribution = "overlap" if job is not None else ""
        self._episodes[self.blocked_count % _RING] = (end_ns - lag_ns, end_ns, lag, stack)
        self.blocked_count += 1
        self._open_window(start_perf, end_perf)
        if self._prom is not None:
            self._prom["infersight_event_loop_blocked"].inc()
        if self._otel is not None:
            self._otel.loop_blocked.add(1)
        if self.blocks is not None:
            self.blocks.push((self.wall_ns(start_perf), end_ns, (end_perf - start_perf) / 1e6,
                              lag_ns / 1e6, stack, job, attribution))
            self._wake.set()

    # -- requests that queued behind a block ------------------------------------------------
    def _open_window(self, start_perf: int, end_perf: int) -> None:
        loop = self._loop
        if loop is None or self._handle is None:
            return
        self.window = (start_perf, end_perf)
        self._window_gen += 1
        self._hops = 0
        loop.call_soon(self._hop, self._window_gen)

    def _hop(self, gen: int) -> None:
        if gen != self._window_gen:
            return
        self._hops += 1
        if self._hops >= _WINDOW_HOPS or self._loop is None:
            self.window = None
        else:
            self._loop.call_soon(self._hop, gen)

    def queued_since(self, now_ns: int) -> int | None:
        """Estimated start (perf ns) of the block a request starting now queued behind, or None.

        Either the timer saw a block a few loop iterations ago (the request was read in the
        burst that followed it), or the timer is overdue by >= the threshold right now (the
        loop just came back from a block and runs the callbacks that waited before the timer).
        """
        window = self.window
        if window is not None:
            return window[0]
        due = self.due_ns
        if now_ns - due >= self.threshold_ns:
            return self.block_start(self.last_tick_ns)
        return None

    # -- the watchdog / exporter thread ------------------------------------------------------
    def _watch(self) -> None:
        period = min(self.interval_s, self.threshold_s) / 2 if self.capture_stack else None
        while not self._stop.is_set():
            self._wake.wait(period)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if self.capture_stack:
                    self._take_sample()
                if self.blocks is not None and self.blocks.pending:
                    self.blocks.drain()
            except Exception:
                logger.warning("loop-lag watchdog failed", exc_info=True)

    def _take_sample(self) -> None:
        tick = self.last_tick_ns
        stale = time.perf_counter_ns() - tick - self.interval_ns
        sample = self._sample
        # sampled from half the threshold on: a busy machine may not run this thread again in time
        if stale >= self.threshold_ns // 2 and (sample is None or sample[0] != tick):
            frame = sys._current_frames().get(self._loop_thread_id or -1)
            if frame is not None:
                text = "".join(traceback.format_stack(frame, limit=self._stack_limit))
                self._sample = (tick, text, self.jobs.on_stack(frame))

    # -- span events on requests ------------------------------------------------------------
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
            stale = (time.perf_counter_ns() - self.last_tick_ns - self.interval_ns) / 1e9
            if stale >= self.threshold_s:
                attrs = {"lag_ms": stale * 1e3, "in_progress": True}
                sample = self._sample
                if sample is not None and sample[0] == self.last_tick_ns and sample[1]:
                    attrs["stack"] = sample[1]
                span.add_event("event_loop.blocked", attrs, timestamp=end_ns - int(stale * 1e9))


__all__ = ["LoopLagMonitor"]
