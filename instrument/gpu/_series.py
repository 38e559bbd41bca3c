"""A cached sweep as (metric, device, extra labels, value) points: shared by Prometheus and OTel."""

from __future__ import annotations

from collections.abc import Iterator

from infersight.instrument.gpu._nvml import THROTTLE_REASONS
from infersight.instrument.gpu._types import DeviceSample, Sweep

Point = tuple[str, DeviceSample, tuple[tuple[str, str], ...], float]

# metric name -> key in DeviceSample.values (device labels only)
SIMPLE: tuple[tuple[str, str], ...] = (
    ("infersight_gpu_utilization_ratio", "util_gpu"),
    ("infersight_gpu_memory_busy_ratio", "util_mem"),
    ("infersight_gpu_memory_used_bytes", "mem_used"),
    ("infersight_gpu_memory_free_bytes", "mem_free"),
    ("infersight_gpu_memory_reserved_bytes", "mem_reserved"),
    ("infersight_gpu_memory_total_bytes", "mem_total"),
    ("infersight_gpu_power_watts", "power_w"),
    ("infersight_gpu_power_limit_watts", "power_limit_w"),
    ("infersight_gpu_energy_joules", "energy_j"),
    ("infersight_gpu_sm_clock_hertz", "sm_clock_hz"),
    ("infersight_gpu_sm_clock_max_hertz", "sm_clock_max_hz"),
    ("infersight_gpu_memory_clock_hertz", "mem_clock_hz"),
    ("infersight_gpu_temperature_celsius", "temp_c"),
    ("infersight_gpu_pstate", "pstate"),
)


def points(sweep: Sweep, bits: tuple[tuple[str, int], ...]) -> Iterator[Point]:
    for d in sweep.devices:
        v = d.values
        for name, key in SIMPLE:
            if key in v:
                yield name, d, (), v[key]
        for key, direction in (("pcie_tx_bps", "transmit"), ("pcie_rx_bps", "receive")):
            if key in v:
                yield "infersight_gpu_pcie_throughput_bytes_per_second", d, \
                    (("direction", direction),), v[key]
        for key, kind in (("ecc_corrected", "corrected"), ("ecc_uncorrected", "uncorrected")):
            if key in v:
                yield "infersight_gpu_ecc_errors", d, (("type", kind),), v[key]
        if d.reasons is not None:
            throttled = 0.0
            for reason, bit in bits:
                on = 1.0 if d.reasons & bit else 0.0
                if on and reason in THROTTLE_REASONS:
                    throttled = 1.0
                yield "infersight_gpu_clock_event_active", d, (("reason", reason),), on
            yield "infersight_gpu_throttled", d, (), throttled
        mine = sweep.self_pids
        names = dict(d.process_names)
        for pid, used in d.processes or ():
            yield "infersight_gpu_process_memory_used_bytes", d, _proc(pid, names, mine), float(used)
        yield from _process_util(d, names, mine)
        if d.share is not None:
            yield "infersight_gpu_share_measured", d, (("source", d.share.source),), \
                1.0 if d.share.measured else 0.0
        for xid, count in d.xid_counts.items():
            yield "infersight_gpu_xid_errors", d, (("xid", str(xid)),), float(count)


def _proc(pid: int, names: dict[int, str], mine: frozenset[int]) -> tuple[tuple[str, str], ...]:
    return (("pid", str(pid)), ("process_name", names.get(pid, "")),
            ("consumer", "self" if pid in mine else "other"))


def _process_util(d: DeviceSample, names: dict[int, str],
                  mine: frozenset[int]) -> Iterator[Point]:
    """Per-process utilisation: measured, or this process's when it is alone on the GPU, or an
    unnamed other process's (pid 0) when this process is known to be off the GPU."""
    name = "infersight_gpu_process_utilization_ratio"
    if d.process_util is not None:
        for pid, u in d.process_util:
            yield name, d, _proc(pid, names, mine), u
        return
    share = d.share
    if share is None:
        return
    if share.source == "single_process" and d.processes:
        yield name, d, _proc(d.processes[0][0], names, mine), share.self_util
    for pid, u in share.other:
        yield name, d, _proc(pid, names, mine), u


__all__ = ["Point", "SIMPLE", "points"]
