"""One NVML sweep over every device, each value read in isolation.

A call that fails with NotSupported (or a missing function) drops that field for that device
only, logged once; a lost device stops being read; the library going away (driver reload,
NVML uninitialized) raises :class:`LibraryGone` so the sampler can re-initialise later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from infersight.instrument.gpu._nvml import NvmlApi
from infersight.instrument.gpu._types import DeviceSample

log = logging.getLogger(__name__)

Values = dict[str, float]
FieldFn = Callable[[Any, Any, Values], None]


class LibraryGone(Exception):
    """NVML itself stopped working (driver unloaded/reloaded, uninitialised)."""


class _DeviceLost(Exception):
    pass


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
    v["_procs"] = procs  # type: ignore[assignment]  # unpacked by the reader


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


@dataclass
class _Device:
    handle: Any
    label: str
    uuid: str
    name: str
    parent: str | None
    fast: list[Field]
    slow: list[Field]
    energy: list[Field] = field(default_factory=list)
    util: list[Field] = field(default_factory=list)
    primed: bool = False  # every tier read once (a new or re-discovered device has no values yet)
    values: Values = field(default_factory=dict)
    processes: tuple[tuple[int, int], ...] | None = None
    xid_counts: dict[int, int] = field(default_factory=dict)
    lost: bool = False


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


class NvmlReader:
    """Discovers devices once (and again after a driver reload) and reads them on demand."""

    def __init__(self, api: NvmlApi, *, devices: Sequence[int] | None = None,
                 pcie: bool = False) -> None:
        self.api = api
        self.pcie = pcie
        self.wanted = None if devices is None else set(devices)
        self.devices: list[_Device] = []
        self.driver_version = ""
        self.read_errors: dict[tuple[str, str], int] = {}
        self._logged: set[tuple[str, str, int | None]] = set()
        self._events: Any = None
        self._by_uuid: dict[str, _Device] = {}

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """nvmlInit + discovery; raises the NVML error (or LibraryGone) when that fails."""
        n = self.api.nvml
        n.nvmlInit()
        try:
            self.driver_version = _text(n.nvmlSystemGetDriverVersion())
        except Exception:
            self.driver_version = ""
        self.devices = []
        for i in range(int(n.nvmlDeviceGetCount())):
            if self.wanted is not None and i not in self.wanted:
                continue
            h = n.nvmlDeviceGetHandleByIndex(i)
            dev = _Device(h, str(i), self._ident(n.nvmlDeviceGetUUID, h, f"gpu-{i}"),
                          self._ident(n.nvmlDeviceGetName, h, "unknown"), None,
                          list(FAST), [*SLOW, PCIE] if self.pcie else list(SLOW), list(ENERGY), list(UTIL))
            try:
                self._read_fields(dev, list(STATIC))
            except _DeviceLost:
                pass
            self.devices.append(dev)
            self.devices.extend(self._mig_children(dev))
        self._by_uuid = {d.uuid: d for d in self.devices}
        self._open_events()

    def close(self) -> None:
        n = self.api.nvml
        if self._events is not None:
            try:
                n.nvmlEventSetFree(self._events)
            except Exception:
                pass
            self._events = None
        try:
            n.nvmlShutdown()
        except Exception:
            pass
        self.devices = []

    def _ident(self, fn: Callable[[Any], Any], h: Any, default: str) -> str:
        try:
            return _text(fn(h))
        except Exception:
            return default

    def _mig_children(self, dev: _Device) -> list[_Device]:
        n = self.api.nvml
        try:
            current, _pending = n.nvmlDeviceGetMigMode(dev.handle)
            if current != getattr(n, "NVML_DEVICE_MIG_ENABLE", 1):
                return []
            count = int(n.nvmlDeviceGetMaxMigDeviceCount(dev.handle))
        except Exception:
            return []  # not a MIG-capable device, or MIG off
        out: list[_Device] = []
        for j in range(count):
            try:
                h = n.nvmlDeviceGetMigDeviceHandleByIndex(dev.handle, j)
            except Exception:
                continue  # empty slot (NotFound)
            label = f"{dev.label}/mig{j}"
            out.append(_Device(h, label, self._ident(n.nvmlDeviceGetUUID, h, f"mig-{label}"),
                               dev.name, dev.label, list(MIG_FAST), list(MIG_SLOW), [], list(MIG_UTIL)))
        return out

    def _open_events(self) -> None:
        n = self.api.nvml
        kind = getattr(n, "nvmlEventTypeXidCriticalError", None)
        if kind is None:
            return
        try:
            es = n.nvmlEventSetCreate()
        except Exception:
            return
        registered = 0
        for dev in self.devices:
            if dev.parent is None:
                try:
                    n.nvmlDeviceRegisterEvents(dev.handle, kind, es)
                    registered += 1
                except Exception as exc:
                    self._once(dev.label, "xid_events", exc, logging.INFO)
        if registered:
            self._events = es
        else:
            try:
                n.nvmlEventSetFree(es)
            except Exception:
                pass

    # --- reading --------------------------------------------------------------------------
    def read(self, slow: bool, energy: bool = False, util: bool = True) -> list[DeviceSample]:
        """Read every device (the FAST fields always, the other tiers when due; a tier not due
        keeps its last values); raises :class:`LibraryGone` when NVML itself is gone."""
        out: list[DeviceSample] = []
        if slow and self._events is not None:
            self._poll_events()
        for dev in self.devices:
            if dev.lost:
                continue
            try:
                first = not dev.primed
                self._read_fields(dev, dev.fast)
                if util or first:
                    self._read_fields(dev, dev.util)
                if slow or first:
                    self._read_fields(dev, dev.slow)
                if energy or first:
                    self._read_fields(dev, dev.energy)
                dev.primed = True
            except _DeviceLost:
                continue
            out.append(DeviceSample(dev.label, dev.uuid, dev.name, dev.parent, dict(dev.values),
                                    int(dev.values["reasons"]) if "reasons" in dev.values else None,
                                    dev.processes, dict(dev.xid_counts)))
        return out

    def _read_fields(self, dev: _Device, fields: list[Field]) -> None:
        api, n, v = self.api, self.api.nvml, dev.values
        for f in tuple(fields):
            try:
                f.fn(n, dev.handle, v)
            except api.error as exc:
                code = api.code(exc)
                if code in api.library_gone:
                    raise LibraryGone(str(exc)) from exc
                self._count(dev.label, f.name)
                for k in f.keys:
                    v.pop(k, None)
                if code in api.device_lost:
                    dev.lost = True
                    v.clear()
                    self._once(dev.label, "*", exc, logging.WARNING, "device lost; no longer read")
                    raise _DeviceLost from exc
                if code in api.unsupported:
                    self._drop(dev, fields, f, exc)
                else:
                    self._once(dev.label, f.name, exc, logging.INFO, "read failed (transient)")
            except Exception as exc:  # not an NVMLError: a missing function, a bad return
                self._count(dev.label, f.name)
                for k in f.keys:
                    v.pop(k, None)
                self._drop(dev, fields, f, exc)
        if "_procs" in v:
            procs = v.pop("_procs")
            dev.processes = tuple(
                (int(p.pid), int(p.usedGpuMemory or 0)) for p in procs  # type: ignore[attr-defined]
            )

    def _drop(self, dev: _Device, fields: list[Field], f: Field, exc: BaseException) -> None:
        idx = fields.index(f)
        if f.fallback is not None:
            fields[idx] = f.fallback  # e.g. memory info v1 (no reserved), averaged power
        else:
            fields.pop(idx)
        if f.name == "processes":
            dev.processes = None
        what = "not supported; using the fallback" if f.fallback else "not supported; field dropped"
        self._once(dev.label, f.name, exc, logging.INFO, what)

    def _poll_events(self) -> None:
        n, api = self.api.nvml, self.api
        for _ in range(64):  # bounded: never spin on an event storm
            try:
                data = n.nvmlEventSetWait_v2(self._events, 0)
            except api.error as exc:
                if api.code(exc) in api.library_gone:
                    raise LibraryGone(str(exc)) from exc
                return  # Timeout: no event pending
            except Exception:
                return
            try:
                uuid = _text(n.nvmlDeviceGetUUID(data.device))
            except Exception:
                uuid = ""
            dev = self._by_uuid.get(uuid)
            if dev is not None:
                xid = int(data.eventData)
                dev.xid_counts[xid] = dev.xid_counts.get(xid, 0) + 1
                log.warning("GPU %s: XID %d reported by NVML", dev.label, xid)

    def _count(self, label: str, name: str) -> None:
        key = (label, name)
        self.read_errors[key] = self.read_errors.get(key, 0) + 1

    def _once(self, label: str, name: str, exc: BaseException, level: int, what: str = "") -> None:
        key = (label, name, self.api.code(exc))
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, "GPU %s: NVML %s: %s (%r)", label, name, what, exc)


__all__ = ["ENERGY", "FAST", "PCIE", "SLOW", "STATIC", "Field", "LibraryGone", "NvmlReader"]
