"""The detectors: one module each, each an object satisfying :class:`_base.Detector`.

Adding a detector = one module with a frozen ``Thresholds`` dataclass and a ``DETECTOR`` object,
listed here, plus its test on corpus data.
"""

from __future__ import annotations

from infersight.analysis.detectors import (
    _cache,
    _cold,
    _dependency,
    _errors,
    _gpu,
    _gpu_requests,
    _jobs,
    _pool,
    _runtime,
    _services,
    _vllm,
)
from infersight.analysis.detectors._base import Detector

#: name -> detector, in the order they run
DETECTORS: dict[str, Detector] = {d.name: d for d in (
    _jobs.DETECTOR, _runtime.GC, _runtime.LOOP, _pool.DETECTOR, _dependency.DETECTOR, _cache.DETECTOR,
    _errors.DETECTOR, _services.DETECTOR, _gpu_requests.DETECTOR, _gpu.DETECTOR, _cold.DETECTOR, _vllm.DETECTOR,
)}

__all__ = ["DETECTORS", "Detector"]
