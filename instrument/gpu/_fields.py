"""What the sampler reads from NVML, one small function per value, grouped in cost tiers.

Each reader is ``fn(nvml, handle, values)`` and writes the values it read into ``values``;
a reader raising NotSupported is replaced by its ``fallback`` (or dropped) by the reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Values = dict[str, float]
FieldFn = Callable[[Any, Any, Values], None]


# --- field readers: fn(nvml, handle, values) -------------------------------------------

def _util(n: Any, h: Any, v: Values) -> None:
    u = n.nvmlDeviceGetUtilizationRates(h)
    v["util_gpu"] = u.gpu / 100.0
    v["util_mem"] = u.memory / 100.0


def _memory_v2(n: Any, h: Any, v: Values) -> None:
    m = n.nvmlDeviceGetMemoryInfo(h, n.nvmlMemory_v2)
    v["mem_used"], v["mem_free"] = float(m.used), float(m.free)
    v["mem_reserved"], v["mem_total"] = float(m.reserved), float(m.total)


def _memory_v1(n: Any, h: Any, v: Values) -> None:
    m = n.nvmlDeviceGetMemoryInfo(h)
    v["mem_used"], v["mem_free"], v["mem_total"] = float(m.used), float(m.free), float(m.total)


def _power(n: Any, h: Any, v: Values) -> None:  # a 1 s moving average on Ampere and newer
    v["power_w"] = n.nvmlDeviceGetPowerUsage(h) / 1000.0


_VALUE_MEMBER = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")


def _power_instant(n: Any, h: Any, v: Values) -> None:
    """Instantaneous power (NVML field NVML_FI_DEV_POWER_INSTANT), what attribution needs:
    on an H100 nvmlDeviceGetPowerUsage lags a load step by ~1 s."""
    fv = n.nvmlDeviceGetFieldValues(h, [n.NVML_FI_DEV_POWER_INSTANT])[0]
    if fv.nvmlReturn != 0:
        raise n.NVMLError(fv.nvmlReturn)
    v["power_w"] = float(getattr(fv.value, _VALUE_MEMBER[fv.valueType])) / 1000.0


def _energy(n: Any, h: Any, v: Values) -> None:
    v["energy_j"] = n.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0


def _sm_clock(n: Any, h: Any, v: Values) -> None:
    v["sm_clock_hz"] = n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM) * 1e6


def _mem_clock(n: Any, h: Any, v: Values) -> None:
    v["mem_clock_hz"] = n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM) * 1e6


def _reasons(n: Any, h: Any, v: Values) -> None:
    fn = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if fn is None:
        fn = n.nvmlDeviceGetCurrentClocksThrottleReasons
    v["reasons"] = int(fn(h))


def _temperature(n: Any, h: Any, v: Values) -> None:
    v["temp_c"] = float(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU))


def _pstate(n: Any, h: Any, v: Values) -> None:
    v["pstate"] = float(n.nvmlDeviceGetPerformanceState(h))


def _power_limit(n: Any, h: Any, v: Values) -> None:
    v["power_limit_w"] = n.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0


def _max_clock(n: Any, h: Any, v: Values) -> None:
    v["sm_clock_max_hz"] = n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_SM) * 1e6


def _pcie(n: Any, h: Any, v: Values) -> None:  # each call samples NVML's 20 ms window
    v["pcie_tx_bps"] = n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_TX_BYTES) * 1024.0
    v["pcie_rx_bps"] = n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_RX_BYTES) * 1024.0


def _ecc(n: Any, h: Any, v: Values) -> None:
    v["ecc_corrected"] = float(n.nvmlDeviceGetTotalEccErrors(
        h, n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_VOLATILE_ECC))
    v["ecc_uncorrected"] = float(n.nvmlDeviceGetTotalEccErrors(
        h, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC))


def _processes(n: Any, h: Any, v: Values) -> None:
    procs = n.nvmlDeviceGetComputeRunningProcesses(h)
    v["_procs"] = procs  # unpacked by the reader


@dataclass(frozen=True)
class Field:
    name: str
    fn: FieldFn
    keys: tuple[str, ...]
    fallback: Field | None = None  # used instead when this one is not supported


# Costs measured on an H100 VM (driver 580.159.04, benchmarks/results/gpu_h100*.json and
# gpu_sampler_probe.json): the calls take ~1-10 us each in a tight loop but 20-160 us of CPU at
# a 10 Hz cadence (every read is a driver round trip, expensive under the VM's kernel). So each
# value is read as often as it can change or as attribution needs it, not more:
# - FAST (every sweep, 10 Hz): instantaneous power (the plain reading is a 1 s moving average
#   there; falls back to it), SM clock and clock-event reasons: what per-request energy and
#   throttling diagnosis need.
# - UTIL (every 0.2 s by default): utilisation. The driver itself refreshes it every 200 ms
#   (nvmlDeviceGetSamples showed 5 utilisation samples/s on the H100), so reading it at 10 Hz
#   returned every value twice.
# - SLOW (1 Hz): framebuffer memory, memory clock, temperature, P-state, power limit,
#   per-process memory, XID events (and PCIe throughput with pcie=True: ~20 ms a direction).
# - ENERGY (every 10 s): the total-energy counter (~3 ms a read there; attribution integrates
#   the power readings instead) and the ECC counters (two reads, ~0.5 ms together at 1 Hz;
#   XID events still arrive every second). STATIC: the max SM clock (~1.3 ms), read once.
MEMORY_V1 = Field("memory", _memory_v1, ("mem_used", "mem_free", "mem_total"))
POWER_AVERAGE = Field("power", _power, ("power_w",))
MEMORY = Field("memory", _memory_v2, ("mem_used", "mem_free", "mem_reserved", "mem_total"), MEMORY_V1)
UTILIZATION = Field("utilization", _util, ("util_gpu", "util_mem"))
FAST: tuple[Field, ...] = (
    Field("power", _power_instant, ("power_w",), POWER_AVERAGE),
    Field("sm_clock", _sm_clock, ("sm_clock_hz",)),
    Field("clock_event_reasons", _reasons, ("reasons",)),
)
UTIL: tuple[Field, ...] = (UTILIZATION,)
PROCESSES = Field("processes", _processes, ("_procs",))
SLOW: tuple[Field, ...] = (
    MEMORY,
    Field("memory_clock", _mem_clock, ("mem_clock_hz",)),
    Field("temperature", _temperature, ("temp_c",)),
    Field("pstate", _pstate, ("pstate",)),
    Field("power_limit", _power_limit, ("power_limit_w",)),
    PROCESSES,
)
ENERGY: tuple[Field, ...] = (Field("energy", _energy, ("energy_j",)),
                             Field("ecc", _ecc, ("ecc_corrected", "ecc_uncorrected")))
STATIC: tuple[Field, ...] = (Field("sm_clock_max", _max_clock, ("sm_clock_max_hz",)),)
PCIE = Field("pcie", _pcie, ("pcie_tx_bps", "pcie_rx_bps"))
MIG_FAST: tuple[Field, ...] = ()
MIG_UTIL: tuple[Field, ...] = (UTILIZATION,)
MIG_SLOW: tuple[Field, ...] = (MEMORY, PROCESSES)


__all__ = ["ENERGY", "FAST", "MEMORY", "MIG_FAST", "MIG_SLOW", "MIG_UTIL", "PCIE", "PROCESSES", "SLOW",
           "STATIC", "UTIL", "Field", "FieldFn", "Values"]
