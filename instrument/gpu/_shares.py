"""Who used a GPU: this process's and other processes' share of its time, per device.

Measured from NVML per-process utilisation samples (``nvmlDeviceGetProcessUtilization``: for
each process that ran kernels, the fraction of the driver's last sample period it did so).
That read is only needed when another process holds a context on the device: when the compute
process list shows only this process, its share is the device utilisation itself.

``source`` says how the split was obtained:

* ``process_utilization``: measured per process;
* ``single_process``: only this process holds a context on the device (self = device utilisation);
* ``device``: no per-process figures (unsupported, or nothing to tell processes apart): the whole
  device utilisation counts as this process's, unless this process is known to be off the GPU,
  in which case it all counts as another (unnamed, pid 0) process's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

UNKNOWN_PID = 0  # "some other process" when NVML cannot say which


@dataclass(frozen=True, slots=True)
class Share:
    """One device's split of its busy time (fractions 0-1 of wall time)."""

    self_util: float
    other: tuple[tuple[int, float], ...]
    source: str

    @property
    def other_util(self) -> float:
        return min(1.0, sum(u for _, u in self.other))

    @property
    def measured(self) -> bool:
        return self.source != "device"


def self_pids(extra: Iterable[int] = ()) -> frozenset[int]:
    """This process's pid, its pids in enclosing pid namespaces where /proc shows them
    (``NSpid``), and ``extra`` (e.g. the host pid of a containerised server, engine workers)."""
    pids = {os.getpid(), *(int(p) for p in extra)}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                pids.update(int(x) for x in line.split()[1:])
    except (OSError, ValueError):
        pass
    return frozenset(pids)


def process_name(pid: int, proc: Path = Path("/proc")) -> str:
    """The short executable name of ``pid`` (``/proc/<pid>/comm``), "" when not visible."""
    try:
        return (proc / str(pid) / "comm").read_text(errors="replace").strip()
    except OSError:
        return ""


def aggregate(samples: Sequence[object]) -> dict[int, float]:
    """NVML process utilisation samples (pid, timeStamp, smUtil %) -> mean SM share per pid
    over the distinct sample times returned (a process absent from a sample was idle in it)."""
    times = {int(getattr(s, "timeStamp", 0)) for s in samples}
    n = max(1, len(times))
    out: dict[int, float] = {}
    for s in samples:
        pid = int(getattr(s, "pid", 0))
        out[pid] = out.get(pid, 0.0) + float(getattr(s, "smUtil", 0)) / 100.0
    return {pid: min(1.0, total / n) for pid, total in out.items()}


def derive(device_util: float, procs: Sequence[int] | None, proc_util: Mapping[int, float] | None,
           mine: frozenset[int], on_gpu: bool | None) -> Share:
    """The split for one device; see the module docstring. ``procs``: pids holding a compute
    context (None when unreadable); ``proc_util``: measured shares (None when not read);
    ``on_gpu``: whether this process's model is on a GPU (None: unknown)."""
    if proc_util is not None and not (on_gpu and procs and not mine.intersection(procs)):
        self_u = min(1.0, sum(u for p, u in proc_util.items() if p in mine))
        other = tuple(sorted((p, u) for p, u in proc_util.items() if p not in mine and u > 0))
        return Share(self_u, other, "process_utilization")
    if procs and mine.issuperset(procs):
        return Share(device_util, (), "single_process")
    if on_gpu is False:
        other = ((UNKNOWN_PID, device_util),) if device_util > 0 else ()
        return Share(0.0, other, "device")
    return Share(device_util, (), "device")


def needs_process_read(procs: Sequence[int] | None, mine: frozenset[int]) -> bool:
    """Whether per-process utilisation must be read: another process (or an unreadable list)."""
    return procs is None or any(p not in mine for p in procs)


__all__ = ["Share", "UNKNOWN_PID", "aggregate", "derive", "needs_process_read", "process_name",
           "self_pids"]
