"""What one sampling sweep produced: immutable snapshots handed to exporters and attribution."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DeviceSample:
    """One GPU (or MIG instance) in one sweep.

    ``values`` holds only the fields that were read successfully (units: ratios 0-1, bytes,
    watts, joules, hertz, degrees Celsius); a field the device does not support is absent.
    ``reasons`` is the raw clock-event reason mask (None when unreadable).
    """

    label: str
    uuid: str
    name: str
    parent: str | None
    values: dict[str, float]
    reasons: int | None = None
    processes: tuple[tuple[int, int], ...] | None = None
    xid_counts: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sweep:
    """Every device read in one pass, stamped with ``time.time_ns()`` (the span clock)."""

    seq: int
    t_ns: int
    duration_s: float
    up: bool
    devices: tuple[DeviceSample, ...] = ()
    driver_version: str = ""


__all__ = ["DeviceSample", "Sweep"]
