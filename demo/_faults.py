"""The fault catalog: each fault's Finding category, the component it lives in, and what it does.

The switches themselves are real code paths in the server (see ``_server.py`` / ``_app_state.py``);
this module only names them, so the CLI, the scenario runner and ``labels.json`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from infersight.demo._errors import DemoConfigError


@dataclass(frozen=True)
class Fault:
    name: str
    category: str  # a DESIGN.md Finding category
    component: str  # span / job / cache / pool / service where the fault lives
    description: str
    needs_gpu: bool = False


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("full_sync", "periodic_job_interference", "payments_full_sync",
          "A scheduled job pulls the whole payment table into Python dicts every period and swaps the "
          "map: gen-2 GC pauses and a pooled connection held for the whole pull (fix: incremental_sync)."),
    Fault("gc_storm", "gc_pause", "risk_features",
          "The request path allocates bursts of container objects and keeps recent ones alive, so "
          "gen-2 collections run often and walk a large heap."),
    Fault("cache_stampede", "cache_stampede", "response_cache",
          "Hot response-cache keys share one wall-clock-aligned TTL and misses are not single-flight: "
          "at each expiry every concurrent request regenerates the same answer."),
    Fault("cold_cache", "cache_miss_storm", "response_cache",
          "The response cache and the prefix cache are flushed and the response cache is shrunk to one "
          "entry (a bad deploy): nearly every request misses."),
    Fault("pool_exhaustion", "pool_saturation", "payments_db",
          "The payments connection pool shrinks to one connection while each request holds one (a "
          "DB-session dependency) until its answer is ready."),
    Fault("slow_downstream", "slow_downstream", "risk-service",
          "The downstream risk service scores with an unindexed scan of its event table."),
    Fault("event_loop_block", "event_loop_block", "moderation",
          "CPU work runs synchronously inside the async chat handler: the moderation check (a model "
          "forward pass and a text scan) and the generation itself (model called directly instead of "
          "through the engine thread)."),
    Fault("gpu_contention", "gpu_saturation", "gpu-burner",
          "A co-located process runs large matrix multiplications on the same GPU.", needs_gpu=True),
    Fault("gpu_idle", "gpu_idle", "model",
          "The model is accidentally loaded on the CPU while a GPU sits idle.", needs_gpu=True),
)}


def check_faults(names: list[str] | tuple[str, ...]) -> list[str]:
    """Validate fault names (clear error listing the catalog); returns them de-duplicated."""
    out: list[str] = []
    for n in names:
        if n not in FAULTS:
            raise DemoConfigError(f"unknown fault {n!r}; known: {', '.join(FAULTS)}")
        if n not in out:
            out.append(n)
    return out


__all__ = ["FAULTS", "Fault", "check_faults"]
