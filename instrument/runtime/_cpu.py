"""Process and host CPU for the analysis: is a slower service using more CPU, or getting less?

``process.cpu.time`` (OTel semconv, seconds, by ``cpu.mode``) from :func:`os.times`, and
``system.cpu.utilization`` (0..1 of every core, the whole host) from ``/proc/stat`` deltas
between two collections (Linux; elsewhere the gauge reports nothing). Both are observable:
they cost nothing until the metric reader collects (every export interval), off the request path.
A service whose own time rose while it used no more CPU per second, with the host busier, is
losing CPU to a neighbour; one whose CPU per request rose runs more code.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry import metrics as otel_metrics

log = logging.getLogger(__name__)

_PROC_STAT = Path("/proc/stat")


def process_cpu(_options: Any = None) -> Iterator[otel_metrics.Observation]:
    t = os.times()
    yield otel_metrics.Observation(t.user, {"cpu.mode": "user"})
    yield otel_metrics.Observation(t.system, {"cpu.mode": "system"})


class HostCpu:
    """``system.cpu.utilization`` between successive collections (busy / total jiffies)."""

    def __init__(self, path: Path = _PROC_STAT) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last: tuple[int, int] | None = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            with self.path.open("rb") as fh:
                fields = fh.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != b"cpu":
            return None
        ticks = [int(x) for x in fields[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return sum(ticks), idle

    def __call__(self, _options: Any = None) -> Iterator[otel_metrics.Observation]:
        now = self._read()
        with self._lock:
            last, self._last = self._last, now
        if now is None or last is None or now[0] <= last[0]:
            return
        total, idle = now[0] - last[0], now[1] - last[1]
        yield otel_metrics.Observation(max(0.0, min(1.0, 1.0 - idle / total)))


def logical_cpus(_options: Any = None) -> Iterator[otel_metrics.Observation]:
    yield otel_metrics.Observation(os.cpu_count() or 1)


def register(meter: otel_metrics.Meter, *, host: HostCpu | None = None) -> None:
    """Add the observable CPU instruments to ``meter``."""
    from infersight.instrument.metrics._families import SPECS

    meter.create_observable_up_down_counter("system.cpu.logical.count", callbacks=[logical_cpus], unit="{cpu}",
                                            description=SPECS["system_cpu_logical_count"].help)
    meter.create_observable_counter("process.cpu.time", callbacks=[process_cpu], unit="s",
                                    description=SPECS["process_cpu_time_seconds"].help)
    meter.create_observable_gauge("system.cpu.utilization", callbacks=[host or HostCpu()], unit="1",
                                  description=SPECS["system_cpu_utilization_ratio"].help)


__all__ = ["HostCpu", "logical_cpus", "process_cpu", "register"]
