"""What one sampling sweep produced: immutable snapshots handed to exporters and attribution."""

from __future__ import annotations

from dataclasses import dataclass, field

from infersight.instrument.gpu._shares import Share


@dataclass(frozen=True, slots=True)
class DeviceSample:
    """One GPU (or MIG instance) in one sweep.

    ``values`` holds only the fields that were read successfully (units: ratios 0-1, bytes,
    watts, joules, hertz, degrees Celsius); a field the device does not support is absent.
    ``reasons`` is the raw clock-event reason mask (None when unreadable). ``processes`` are
    (pid, used bytes) of the compute processes, ``process_util`` (pid, SM share 0-1) of those
    that ran kernels (None when not read), ``process_names`` (pid, executable name) of both,
    ``share`` this process's and the others' part of the device's time.
    """

    label: str
    uuid: str
    name: str
    parent: str | None
    values: dict[str, float]
    reasons: int | None = None
    processes: tuple[tuple[int, int], ...] | None = None
    xid_counts: dict[int, int] = field(default_factory=dict)
    share: Share | None = None
    process_util: tuple[tuple[int, float], ...] | None = None
    process_names: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Sweep:
    """Every device read in one pass, stamped with ``time.time_ns()`` (the span clock);
    ``slow``: the slow tier (memory, processes) was read in it; ``self_pids``: this process."""

    seq: int
    t_ns: int
    duration_s: float
    up: bool
    devices: tuple[DeviceSample, ...] = ()
    driver_version: str = ""
    slow: bool = False
    self_pids: frozenset[int] = frozenset()


__all__ = ["DeviceSample", "Sweep"]
