"""Ranking findings by impact x confidence and merging overlapping ones into causal chains.

A job finding absorbs the runtime/pool findings whose attributable time lies mostly inside the
job's runs (job -> allocations -> GC -> pool -> P99 becomes one finding, not three lines); a
GC finding absorbs an event-loop finding whose blocked time coincides with GC pauses.
"""

from __future__ import annotations

import numpy as np
from infersight.analysis._context import Context, mechanisms
from infersight.analysis._finding import Finding

#: share of a mechanism's excess-carrying time that must fall in the job's runs to fold it in
FOLD_SHARE = 0.6
_STEP_TEXT = {"gc_pause": "allocations -> gen-2 GC pauses", "event_loop_block": "event loop stalled",
              "pool_saturation": "connection pool exhausted", "slow_downstream": "dependency slowed"}


def _inside_share(ctx: Context, mechanism: str, job_mask: np.ndarray) -> float:
    arr = mechanisms(ctx).get(mechanism)
    if arr is None:
        return 0.0
    carried = np.minimum(arr, ctx.requests["excess_ms"].to_numpy())
    total = float(carried.sum())
    return float(carried[job_mask].sum() / total) if total > 0 else 0.0


def merge(ctx: Context, findings: list[Finding]) -> list[Finding]:
    jobs = [f for f in findings if f.category == "periodic_job_interference"]
    folded: set[int] = set()
    for job in sorted(jobs, key=lambda f: f.score, reverse=True):
        windows = job.plot.get("job_windows", [])
        if not windows:
            continue
        s = np.array([w[0] for w in windows], dtype=np.int64)
        e = np.array([w[1] for w in windows], dtype=np.int64)
        mask = ctx.overlapping(s, e, grace_ns=500_000_000)
        steps = []
        for other in findings:
            if other is job or id(other) in folded or other.category not in _STEP_TEXT:
                continue
            mech = str(other.plot.get("mechanism", ""))
            if _inside_share(ctx, mech, mask) < FOLD_SHARE:
                continue
            folded.add(id(other))
            steps.append(_STEP_TEXT[other.category])
            job.merged.append(other.category)
            job.evidence.extend(other.evidence)
            job.confidence = max(job.confidence, min(1.0, other.confidence))
            job.excess_share = max(job.excess_share, other.excess_share)
        if steps:
            job.chain = [job.chain[0], *steps, job.chain[-1]]
            job.title = f"{job.title.split(' slows requests')[0]} -> {' -> '.join(steps)} -> P99"
    return [f for f in findings if id(f) not in folded]


def rank(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Merge overlapping findings, then order by impact x confidence (highest first)."""
    merged = merge(ctx, findings)
    return sorted(merged, key=lambda f: (f.score, f.confidence), reverse=True)
