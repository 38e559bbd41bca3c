"""Loading pynvml lazily, and what the plane needs from it (error codes, clock-event reasons).

Nothing here hard-codes NVML numbers: codes and reason bits come from the module that was
loaded (real pynvml or an injected fake with the same names).
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

# Reason names (as infersight exposes them) -> the pynvml constant suffix. The newer
# ``nvmlClocksEventReason*`` names are preferred; the deprecated ``nvmlClocksThrottleReason*``
# are the fallback for older nvidia-ml-py releases.
REASON_CONSTANTS: tuple[tuple[str, str], ...] = (
    ("idle", "GpuIdle"),
    ("applications_clocks", "ApplicationsClocksSetting"),
    ("sw_power_cap", "SwPowerCap"),
    ("hw_slowdown", "HwSlowdown"),
    ("sync_boost", "SyncBoost"),
    ("sw_thermal", "SwThermalSlowdown"),
    ("hw_thermal", "HwThermalSlowdown"),
    ("hw_power_brake", "HwPowerBrakeSlowdown"),
    ("display_clocks", "DisplayClockSetting"),
)
# Reasons that mean "held down by a limit" (as opposed to idle or a user setting).
THROTTLE_REASONS: frozenset[str] = frozenset(
    {"sw_power_cap", "hw_slowdown", "sw_thermal", "hw_thermal", "hw_power_brake"}
)

# Error codes, by pynvml constant name, grouped by how the sampler reacts.
_UNSUPPORTED = ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND",
                "NVML_ERROR_NO_PERMISSION", "NVML_ERROR_INVALID_ARGUMENT",
                "NVML_ERROR_ARGUMENT_VERSION_MISMATCH", "NVML_ERROR_DEPRECATED")
_DEVICE_LOST = ("NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_RESET_REQUIRED", "NVML_ERROR_GPU_NOT_FOUND")
_LIBRARY_GONE = ("NVML_ERROR_UNINITIALIZED", "NVML_ERROR_DRIVER_NOT_LOADED",
                 "NVML_ERROR_LIB_RM_VERSION_MISMATCH", "NVML_ERROR_LIBRARY_NOT_FOUND")


def load_nvml() -> ModuleType | None:
    """``import pynvml`` (the nvidia-ml-py distribution), or None when it is not installed."""
    try:
        import pynvml
    except Exception as exc:  # ImportError, or a broken install
        log.debug("pynvml not importable: %r", exc)
        return None
    module: ModuleType = pynvml
    return module


def _codes(nvml: Any, names: tuple[str, ...]) -> frozenset[int]:
    return frozenset(int(getattr(nvml, n)) for n in names if hasattr(nvml, n))


class NvmlApi:
    """The loaded module plus what the sampler derives from it once."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.error: type[BaseException] = getattr(nvml, "NVMLError", Exception)
        self.unsupported = _codes(nvml, _UNSUPPORTED)
        self.device_lost = _codes(nvml, _DEVICE_LOST)
        self.library_gone = _codes(nvml, _LIBRARY_GONE)
        self.not_found = _codes(nvml, ("NVML_ERROR_NOT_FOUND",))
        self.timeout = _codes(nvml, ("NVML_ERROR_TIMEOUT",))
        self.reasons: tuple[tuple[str, int], ...] = reason_bits(nvml)

    def code(self, exc: BaseException) -> int | None:
        value = getattr(exc, "value", None)
        return value if isinstance(value, int) else None


def reason_bits(nvml: Any) -> tuple[tuple[str, int], ...]:
    """(name, bit) for every clock-event reason the module defines."""
    out: list[tuple[str, int]] = []
    for name, suffix in REASON_CONSTANTS:
        bit = getattr(nvml, f"nvmlClocksEventReason{suffix}", None)
        if bit is None:
            bit = getattr(nvml, f"nvmlClocksThrottleReason{suffix}", None)
        if isinstance(bit, int) and bit:
            out.append((name, bit))
    return tuple(out)


def decode_reasons(mask: int, bits: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """Names of the reasons set in ``mask``; unknown set bits come back as ``bit_0x...``."""
    names = [name for name, bit in bits if mask & bit]
    rest = mask
    for _, bit in bits:
        rest &= ~bit
    b = 1
    while rest:
        if rest & b:
            names.append(f"bit_{b:#x}")
            rest &= ~b
        b <<= 1
    return tuple(names)


__all__ = ["NvmlApi", "REASON_CONSTANTS", "THROTTLE_REASONS", "decode_reasons", "load_nvml",
           "reason_bits"]
