"""Finding categories: one enum with the rank order and the text a causal chain uses.

The order runs from root-like causes (a job, a deploy, a cache, a dependency, the GPU) to the
mechanisms they act through (GC, the event loop, the pool, the CPU): when two findings describe
the same damage, the earlier one is the cause and absorbs the later (``_rank.FOLD_RULES``).
"""

from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    PERIODIC_JOB_INTERFERENCE = "periodic_job_interference"
    COLD_START = "cold_start"
    CODE_DEFECT = "code_defect"
    CACHE_STAMPEDE = "cache_stampede"
    CACHE_MISS_STORM = "cache_miss_storm"
    GPU_MEMORY_PRESSURE = "gpu_memory_pressure"
    GPU_IDLE = "gpu_idle"
    GPU_THROTTLING = "gpu_throttling"
    GPU_SATURATION = "gpu_saturation"
    SLOW_DOWNSTREAM = "slow_downstream"
    GC_PAUSE = "gc_pause"
    EVENT_LOOP_BLOCK = "event_loop_block"
    POOL_SATURATION = "pool_saturation"
    CPU_CONTENTION = "cpu_contention"

    def __str__(self) -> str:
        return self.value

    @property
    def order(self) -> int:
        """Position from root-like (0) to mechanism-like."""
        return _ORDER[self]

    @property
    def chain_text(self) -> str:
        """How this category reads as a step of a causal chain."""
        return _CHAIN_TEXT.get(self, self.value.replace("_", " "))


_ORDER = {c: i for i, c in enumerate(Category)}
_CHAIN_TEXT = {
    Category.GC_PAUSE: "allocations -> gen-2 GC pauses",
    Category.EVENT_LOOP_BLOCK: "event loop blocked -> requests queued",
    Category.POOL_SATURATION: "connection pool exhausted",
    Category.SLOW_DOWNSTREAM: "dependency slowed",
    Category.CPU_CONTENTION: "CPU taken from requests",
    Category.CACHE_MISS_STORM: "cache misses",
}

#: every category's string value, in rank order (the public, JSON-facing names)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)

__all__ = ["CATEGORIES", "Category"]
