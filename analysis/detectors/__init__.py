"""The detectors: each takes a :class:`~infersight.analysis._context.Context` and returns Findings."""

from __future__ import annotations

from collections.abc import Callable

from infersight.analysis._context import Context
from infersight.analysis._finding import Finding
from infersight.analysis.detectors import _cache, _cold, _downstream, _gpu, _jobs, _pool, _runtime, _vllm

Detector = Callable[[Context], list[Finding]]

#: name -> detector, in the order they run
DETECTORS: dict[str, Detector] = {
    "periodic_job_interference": _jobs.detect,
    "gc_pause": _runtime.detect_gc,
    "event_loop_block": _runtime.detect_loop,
    "pool_saturation": _pool.detect,
    "slow_downstream": _downstream.detect,
    "cache": _cache.detect,
    "gpu": _gpu.detect,
    "cold_start": _cold.detect,
    "vllm": _vllm.detect,
}

__all__ = ["DETECTORS", "Detector"]
