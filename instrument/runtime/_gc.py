"""GC pause monitor: a ``gc.callbacks`` hook that does O(1) work into preallocated arrays.

The callback never touches a metric, a lock or a container that grows: it writes the pause
into fixed-size ``array('q')`` rings and bumps two integers. A drain (background thread every
``drain_interval_s``, and before each ``/metrics`` scrape) moves new pauses into the
Prometheus and OTel instruments and emits long pauses as ``gc.pause`` spans. Requests read
the cumulative pause counter at start and end (O(1)) to know the GC time that overlapped them.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any

from infersight.instrument._errors import ConfigurationError
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer

logger = logging.getLogger(__name__)

_GEN_ATTRS = tuple({"cpython.gc.generation": g} for g in range(3))
_GEN_LABELS = ("0", "1", "2")
_ROOT = Context()  # long-pause spans are roots, never children of whatever drained them


class GcMonitor:
    """Watches every collection of this process; see the module docstring."""

    def __init__(self, *, prom: Any = None, otel: Any = None, tracer: Tracer | None = None,
                 event_threshold_ms: float = 5.0, long_pause_spans: bool = True,
                 ring_size: int = 4096, drain_interval_s: float = 1.0,
                 on_error: Callable[[str], None] | None = None) -> None:
        if ring_size < 16 or ring_size & (ring_size - 1):
            raise ConfigurationError("ring_size must be a power of two >= 16")
        self._mask = ring_size - 1
        self.ring_size = ring_size
        self._start_ns = array("q", [0] * ring_size)     # wall clock (time_ns) at pause start
        self._dur_ns = array("q", [0] * ring_size)
        self._gen = array("b", [0] * ring_size)
        self._collected = array("q", [0] * ring_size)
        self._uncollectable = array("q", [0] * ring_size)
        self._t0_perf = 0
        self._t0_wall = 0
        self.count = 0            # pauses written since install (monotonic index into the ring)
        self.total_pause_ns = 0   # cumulative pause time since install
        self.threshold_ns = int(event_threshold_ms * 1_000_000)
        self._drained = 0
        self._prom = prom
        self._otel = otel
        self._tracer = tracer
        self._long_pause_spans = long_pause_spans
        self._drain_interval_s = drain_interval_s
        self._on_error = on_error
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = 0

    # -- the hook ------------------------------------------------------------------------
    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0_wall = time.time_ns()
            self._t0_perf = time.perf_counter_ns()
            return
        dur = time.perf_counter_ns() - self._t0_perf
        i = self.count & self._mask
        self._start_ns[i] = self._t0_wall
        self._dur_ns[i] = dur
        self._gen[i] = info["generation"]
        self._collected[i] = info["collected"]
        self._uncollectable[i] = info["uncollectable"]
        self.total_pause_ns += dur
        self.count += 1

    # -- lifecycle -----------------------------------------------------------------------
    def install(self, *, background: bool = True) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        if background and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="infersight-gc-drain", daemon=True)
            self._thread.start()

    def uninstall(self) -> None:
        try:
            gc.callbacks.remove(self._callback)
        except ValueError:
            pass
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.drain()

    def _loop(self) -> None:
        while not self._stop.wait(self._drain_interval_s):
            self.drain()

    # -- readers -------------------------------------------------------------------------
    def pauses_since(self, index: int, end: int | None = None) -> list[tuple[int, int, int]]:
        """``(start_ns, duration_ns, generation)`` of pauses ``index..end`` still in the ring."""
        stop = self.count if end is None else end
        first = max(index, stop - self.ring_size)
        out = []
        for n in range(first, stop):
            i = n & self._mask
            out.append((self._start_ns[i], self._dur_ns[i], self._gen[i]))
        return out

    def annotate(self, span: Span, count0: int, total0: int) -> None:
        """Set ``infersight.gc.pause_ms`` and add a ``gc.pause`` event per pause >= threshold."""
        count1, total1 = self.count, self.total_pause_ns
        span.set_attribute("infersight.gc.pause_ms", (total1 - total0) / 1e6)
        if count1 == count0:
            return
        threshold = self.threshold_ns
        # a pause that began before the request (and ended inside it) stalled its start: its
        # event sits at the span's start so trace views keep it inside the span
        span_start = getattr(span, "start_time", None) or 0
        first = max(count0, count1 - self.ring_size)
        for n in range(first, count1):
            i = n & self._mask
            dur = self._dur_ns[i]
            if dur >= threshold:
                span.add_event("gc.pause", {"cpython.gc.generation": int(self._gen[i]), "duration_ms": dur / 1e6},
                               timestamp=max(self._start_ns[i], span_start))

    def drain(self) -> int:
        """Move pauses written since the last drain into the instruments; returns how many."""
        with self._drain_lock:
            end = self.count
            start = self._drained
            if end - start > self.ring_size:
                self.lost += end - start - self.ring_size
                logger.warning("gc monitor: %d pauses overwrote the ring before a drain",
                               end - start - self.ring_size)
                start = end - self.ring_size
            self._drained = end
            try:
                self._record(start, end)
            except Exception:  # telemetry never raises into the process
                logger.warning("gc monitor: recording pauses failed", exc_info=True)
                if self._on_error is not None:
                    self._on_error("gc")
            return end - start

    def _record(self, start: int, end: int) -> None:
        prom, otel = self._prom, self._otel
        for n in range(start, end):
            i = n & self._mask
            gen = int(self._gen[i])
            dur_ns = int(self._dur_ns[i])
            seconds = dur_ns / 1e9
            collected, uncollectable = int(self._collected[i]), int(self._uncollectable[i])
            label = _GEN_LABELS[gen] if 0 <= gen <= 2 else str(gen)
            attrs = _GEN_ATTRS[gen] if 0 <= gen <= 2 else {"cpython.gc.generation": gen}
            long_pause = dur_ns >= self.threshold_ns
            if prom is not None:
                prom["infersight_gc_pause_duration_seconds"].labels(label).observe(seconds)
                prom["cpython_gc_collections"].labels(label).inc()
                if collected:
                    prom["cpython_gc_collected_objects"].labels(label).inc(collected)
                if uncollectable:
                    prom["cpython_gc_uncollectable_objects"].labels(label).inc(uncollectable)
                if long_pause:
                    prom["infersight_gc_last_long_pause_start_seconds"].labels(label).set(
                        self._start_ns[i] / 1e9)
            if otel is not None:
                otel.gc_pause.record(seconds, attrs)
                otel.gc_collections.add(1, attrs)
                otel.gc_collected.add(collected, attrs)
                otel.gc_uncollectable.add(uncollectable, attrs)
                if long_pause:
                    otel.gc_last_long_pause.set(self._start_ns[i] / 1e9, attrs)
            if long_pause and self._long_pause_spans and self._tracer is not None:
                start_ns = int(self._start_ns[i])
                span = self._tracer.start_span(
                    "gc.pause", kind=SpanKind.INTERNAL, start_time=start_ns,
                    attributes={"cpython.gc.generation": gen, "infersight.gc.pause_ms": dur_ns / 1e6,
                                "infersight.gc.collected_objects": collected},
                    context=_ROOT)
                span.end(end_time=start_ns + dur_ns)

__all__ = ["GcMonitor"]
