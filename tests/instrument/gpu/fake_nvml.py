"""A fake pynvml for CI (no GPU there): same function names, constants and NVMLError classes.

Injected as ``nvml=FakeNvml(...)``, never put in ``sys.modules``. Each fake GPU is a plain
object whose fields the test moves; ``fail`` maps a pynvml function name to an error code
raised for that device only; ``unload()``/``load()`` simulate a driver reload; ``calls``
counts every NVML call (to prove the scrape path makes none).

Several processes on one GPU: ``procs`` lists (pid, used bytes) of the compute processes and
``proc_util`` (pid, SM utilisation %) of those running kernels now; each
``nvmlDeviceGetProcessUtilization`` call returns one sample per busy process stamped later than
the previous call (NOT_FOUND when none is busy, as the driver does), and NOT_SUPPORTED while
``proc_util`` is None (older GPUs, vGPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

# Error codes (same values as pynvml; tests/instrument/gpu/test_fake_nvml.py checks them).
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

_NAMES = {1: "Uninitialized", 2: "InvalidArgument", 3: "NotSupported", 4: "NoPermission",
          6: "NotFound", 9: "DriverNotLoaded", 10: "Timeout", 12: "LibraryNotFound",
          13: "FunctionNotFound", 15: "GpuIsLost", 999: "Unknown"}


class NVMLError(Exception):
    """Like pynvml.NVMLError: ``NVMLError(code)`` builds the subclass for that code."""

    _valClassMapping: dict[int, type[NVMLError]] = {}
    value: int

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int) -> None:
        super().__init__(value)

    def __str__(self) -> str:
        return _NAMES.get(self.value, f"NVML Error with code {self.value}")


for _code, _name in _NAMES.items():
    _cls = type(f"NVMLError_{_name}", (NVMLError,), {})
    NVMLError._valClassMapping[_code] = _cls
    globals()[_cls.__name__] = _cls

# Constants with pynvml's names and values.
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_TEMPERATURE_GPU = 0
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_DEVICE_MIG_ENABLE = 1
nvmlMemory_v2 = 0x02000028
NVML_FI_DEV_POWER_INSTANT = 186
NVML_VALUE_TYPE_UNSIGNED_INT = 1
nvmlEventTypeXidCriticalError = 0x8
nvmlClocksEventReasonGpuIdle = 0x1
nvmlClocksEventReasonApplicationsClocksSetting = 0x2
nvmlClocksEventReasonSwPowerCap = 0x4
nvmlClocksEventReasonHwSlowdown = 0x8
nvmlClocksEventReasonSyncBoost = 0x10
nvmlClocksEventReasonSwThermalSlowdown = 0x20
nvmlClocksEventReasonHwThermalSlowdown = 0x40
nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80
nvmlClocksEventReasonDisplayClockSetting = 0x100


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    util_gpu: int = 0
    util_mem: int = 0
    mem_total: int = 80 * 2**30
    mem_used: int = 2**30
    mem_reserved: int = 512 * 2**20
    power_mw: int = 70_000  # nvmlDeviceGetPowerUsage (a 1 s average on real Hopper GPUs)
    power_instant_mw: int | None = None  # NVML_FI_DEV_POWER_INSTANT; None: same as power_mw
    instant_supported: bool = True
    power_limit_mw: int = 700_000
    energy_mj: int = 1_000_000
    sm_clock_mhz: int = 345
    sm_clock_max_mhz: int = 1980
    mem_clock_mhz: int = 2619
    reasons: int = 0x1
    temp_c: int = 30
    pstate: int = 0
    pcie_kbps: tuple[int, int] = (100, 200)
    ecc: tuple[int, int] = (0, 0)
    procs: list[tuple[int, int]] = field(default_factory=list)
    proc_util: list[tuple[int, int]] | None = None  # None: per-process utilisation unsupported
    fail: dict[str, int] = field(default_factory=dict)  # function name -> NVML error code
    lost: bool = False
    mig: list[FakeGpu] = field(default_factory=list)
    pending_xids: list[int] = field(default_factory=list)


class _Handle:
    def __init__(self, gpu: FakeGpu, generation: int) -> None:
        self.gpu, self.generation = gpu, generation


class FakeNvml:
    """Module-like: ``FakeNvml(gpus).nvmlDeviceGetCount()`` etc."""

    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: int | None = None,
                 driver: str = "580.159.04") -> None:
        for k, v in globals().items():
            if k.startswith(("NVML_", "nvml")) and isinstance(v, int):
                setattr(self, k, v)
            elif k.startswith("NVMLError_"):
                setattr(self, k, v)
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.driver = driver
        self.initialized = False
        self.generation = 0
        self.calls = 0
        self.init_calls = 0
        self.proc_util_calls = 0
        self.sample_us = 1_700_000_000_000_000  # the driver's sample clock (CPU µs)

    # --- test controls ----------------------------------------------------------------
    def unload(self) -> None:
        """Driver unloaded: every call fails until ``load()`` and a new nvmlInit."""
        self.initialized = False
        self.init_error = NVML_ERROR_DRIVER_NOT_LOADED

    def load(self) -> None:
        self.init_error = None
        self.generation += 1  # old handles die with the old driver

    # --- plumbing -----------------------------------------------------------------------
    def _dev(self, h: _Handle, fn: str) -> FakeGpu:
        self.calls += 1
        if not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        if h.generation != self.generation:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        if h.gpu.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        code = h.gpu.fail.get(fn)
        if code is not None:
            raise NVMLError(code)
        return h.gpu

    def nvmlInit(self) -> None:
        self.calls += 1
        self.init_calls += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.calls += 1
        if not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self.calls += 1
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        self.calls += 1
        if not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> _Handle:
        self.calls += 1
        if not 0 <= i < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(self.gpus[i], self.generation)

    def nvmlDeviceGetUUID(self, h: _Handle) -> str:
        return self._dev(h, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, h: _Handle) -> str:
        return self._dev(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetUtilizationRates(self, h: _Handle) -> Any:
        g = self._dev(h, "nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=g.util_gpu, memory=g.util_mem)

    def nvmlDeviceGetMemoryInfo(self, h: _Handle, version: int | None = None) -> Any:
        g = self._dev(h, "nvmlDeviceGetMemoryInfo" if version is None
                      else "nvmlDeviceGetMemoryInfo_v2")
        free = g.mem_total - g.mem_used - (g.mem_reserved if version else 0)
        m = SimpleNamespace(total=g.mem_total, used=g.mem_used, free=free)
        if version:
            m.reserved = g.mem_reserved
        return m

    def nvmlDeviceGetPowerUsage(self, h: _Handle) -> int:
        return self._dev(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetFieldValues(self, h: _Handle, ids: list[int]) -> list[Any]:
        g = self._dev(h, "nvmlDeviceGetFieldValues")
        out = []
        for fid in ids:
            if fid == NVML_FI_DEV_POWER_INSTANT and g.instant_supported:
                mw = g.power_mw if g.power_instant_mw is None else g.power_instant_mw
                out.append(SimpleNamespace(fieldId=fid, nvmlReturn=0, valueType=NVML_VALUE_TYPE_UNSIGNED_INT,
                                           value=SimpleNamespace(uiVal=mw)))
            else:
                out.append(SimpleNamespace(fieldId=fid, nvmlReturn=NVML_ERROR_NOT_SUPPORTED,
                                           valueType=NVML_VALUE_TYPE_UNSIGNED_INT,
                                           value=SimpleNamespace(uiVal=0)))
        return out

    def nvmlDeviceGetEnforcedPowerLimit(self, h: _Handle) -> int:
        return self._dev(h, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: _Handle) -> int:
        return self._dev(h, "nvmlDeviceGetTotalEnergyConsumption").energy_mj

    def nvmlDeviceGetClockInfo(self, h: _Handle, kind: int) -> int:
        g = self._dev(h, "nvmlDeviceGetClockInfo")
        return g.sm_clock_mhz if kind == NVML_CLOCK_SM else g.mem_clock_mhz

    def nvmlDeviceGetMaxClockInfo(self, h: _Handle, kind: int) -> int:
        return self._dev(h, "nvmlDeviceGetMaxClockInfo").sm_clock_max_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: _Handle) -> int:
        return self._dev(h, "nvmlDeviceGetCurrentClocksEventReasons").reasons

    def nvmlDeviceGetTemperature(self, h: _Handle, sensor: int) -> int:
        return self._dev(h, "nvmlDeviceGetTemperature").temp_c

    def nvmlDeviceGetPerformanceState(self, h: _Handle) -> int:
        return self._dev(h, "nvmlDeviceGetPerformanceState").pstate

    def nvmlDeviceGetPcieThroughput(self, h: _Handle, counter: int) -> int:
        return self._dev(h, "nvmlDeviceGetPcieThroughput").pcie_kbps[counter]

    def nvmlDeviceGetTotalEccErrors(self, h: _Handle, kind: int, counter: int) -> int:
        return self._dev(h, "nvmlDeviceGetTotalEccErrors").ecc[kind]

    def nvmlDeviceGetComputeRunningProcesses(self, h: _Handle) -> list[Any]:
        g = self._dev(h, "nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in g.procs]

    def nvmlDeviceGetProcessUtilization(self, h: _Handle, last_seen_us: int) -> list[Any]:
        g = self._dev(h, "nvmlDeviceGetProcessUtilization")
        self.proc_util_calls += 1
        if g.proc_util is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        self.sample_us += 166_667  # one driver sample period per call
        busy = [(pid, u) for pid, u in g.proc_util if u > 0]
        if not busy or self.sample_us <= last_seen_us:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return [SimpleNamespace(pid=pid, timeStamp=self.sample_us, smUtil=u, memUtil=0, encUtil=0,
                                decUtil=0) for pid, u in busy]

    def nvmlDeviceGetMigMode(self, h: _Handle) -> list[int]:
        g = self._dev(h, "nvmlDeviceGetMigMode")
        if not g.mig:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return [NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE]

    def nvmlDeviceGetMaxMigDeviceCount(self, h: _Handle) -> int:
        return len(self._dev(h, "nvmlDeviceGetMaxMigDeviceCount").mig) + 1

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: _Handle, j: int) -> _Handle:
        g = self._dev(h, "nvmlDeviceGetMigDeviceHandleByIndex")
        if j >= len(g.mig):
            raise NVMLError(NVML_ERROR_NOT_FOUND)  # an empty slot, as on real MIG GPUs
        return _Handle(g.mig[j], self.generation)

    def nvmlEventSetCreate(self) -> list[FakeGpu]:
        self.calls += 1
        return []

    def nvmlDeviceRegisterEvents(self, h: _Handle, kinds: int, es: list[FakeGpu]) -> None:
        es.append(self._dev(h, "nvmlDeviceRegisterEvents"))

    def nvmlEventSetWait_v2(self, es: list[FakeGpu], timeout_ms: int) -> Any:
        self.calls += 1
        for g in es:
            if g.pending_xids:
                return SimpleNamespace(device=_Handle(g, self.generation),
                                       eventData=g.pending_xids.pop(0),
                                       eventType=nvmlEventTypeXidCriticalError)
        raise NVMLError(NVML_ERROR_TIMEOUT)

    def nvmlEventSetFree(self, es: list[FakeGpu]) -> None:
        self.calls += 1
