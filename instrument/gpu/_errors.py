"""The GPU plane's exception tree (bad configuration only: NVML trouble is never raised)."""

from __future__ import annotations

from infersight.instrument._errors import ConfigurationError, InstrumentError


class GpuError(InstrumentError):
    """Base of every error the GPU plane raises."""


class GpuConfigError(GpuError, ConfigurationError):
    """A bad argument: sampling rate out of 1-100 Hz, negative price, unknown instance type,
    unknown option."""


__all__ = ["GpuConfigError", "GpuError"]
