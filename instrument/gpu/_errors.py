"""The GPU plane's exception tree (bad configuration only: NVML trouble is never raised)."""

from __future__ import annotations


class GpuError(Exception):
    """Base of every error the GPU plane raises."""


class GpuConfigError(GpuError, ValueError):
    """A bad argument: sampling rate out of 1-100 Hz, negative price, unknown instance type."""


__all__ = ["GpuConfigError", "GpuError"]
