"""Per-process GPU utilisation of one device, read on the slow tier only when it is needed.

NVML call: ``nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)`` (Maxwell and newer;
``nvmlDeviceGetProcessesUtilizationInfo`` is the fallback where only the newer API exists). It
returns the driver's buffered samples newer than ``lastSeenTimeStamp`` (CPU µs), one per process
that ran kernels in a sample period, or NVML_ERROR_NOT_FOUND when no process did (nobody
busy: not an error). Accounting stats (``nvmlDeviceGetAccountingStats``) are not used: they
need accounting mode switched on by root and give a utilisation over a process's whole life.

Cost tier: slow (1 Hz by default), and skipped entirely while the compute-process list shows
only this process (then its share is the device utilisation). Its CPU cost on an H100 is not
measured yet (benchmarks/gpu/h100_issue20.py measures it); the driver-side sample buffer read
of ``nvmlDeviceGetSamples`` cost ~2.3 ms there, so this read is kept off the fast tiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infersight.instrument.gpu._nvml import NvmlApi
from infersight.instrument.gpu._shares import aggregate, needs_process_read

# Samples older than this before the newest one returned are ignored: the first read (and the
# first after a pause in reading) gets the driver's whole buffer back.
WINDOW_US = 1_500_000
_CALLS = ("nvmlDeviceGetProcessUtilization", "nvmlDeviceGetProcessesUtilizationInfo")


class ProcessUtil:
    """State of the per-process read for one device: supported or not, last sample time,
    the last measured shares (pid -> SM share 0-1; None when not read)."""

    __slots__ = ("call", "last_seen_us", "shares")

    def __init__(self) -> None:
        self.call: int | None = 0  # index into _CALLS; None once neither is supported
        self.last_seen_us = 0
        self.shares: dict[int, float] | None = None

    @property
    def supported(self) -> bool:
        return self.call is not None

    def update(self, api: NvmlApi, handle: Any, procs: Sequence[int] | None,
               mine: frozenset[int]) -> BaseException | None:
        """Read when another process holds a context; returns the error of an unsupported or
        failed read (the caller logs and counts it; library-gone codes are re-raised)."""
        if self.call is None or not needs_process_read(procs, mine):
            self.shares = None
            self.last_seen_us = 0  # the next read starts afresh (WINDOW_US trims it)
            return None
        n = api.nvml
        while self.call is not None:
            fn = getattr(n, _CALLS[self.call], None)
            try:
                if fn is None:
                    raise AttributeError(_CALLS[self.call])
                samples = list(fn(handle, self.last_seen_us))
            except api.error as exc:
                code = api.code(exc)
                if code in api.library_gone:
                    raise
                if code in api.not_found or code == 0:  # no process ran kernels since last time
                    self.shares = {}
                    return None
                if code in api.unsupported:
                    self._next()
                    if self.call is None:
                        self.shares = None
                        return exc
                    continue
                return exc  # transient: keep the last shares
            except Exception as exc:  # the function is missing in this pynvml / driver
                self._next()
                if self.call is None:
                    self.shares = None
                    return exc
                continue
            if samples:
                newest = max(int(getattr(s, "timeStamp", 0)) for s in samples)
                samples = [s for s in samples if int(getattr(s, "timeStamp", 0)) >= newest - WINDOW_US]
                self.last_seen_us = max(self.last_seen_us, newest)
            self.shares = aggregate(samples)
            return None
        return None

    def _next(self) -> None:
        assert self.call is not None
        self.call = self.call + 1 if self.call + 1 < len(_CALLS) else None


__all__ = ["ProcessUtil", "WINDOW_US"]
