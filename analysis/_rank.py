"""Ranking findings by impact x confidence and merging overlapping ones into causal chains.

Findings are ordered from root-like to mechanism-like (a job, a cache storm, a slow dependency,
the GPU, then GC, the event loop and the pool). A root-like finding absorbs a later one when
most of the later one's excess-carrying time falls in the root's active time (and more than
the root's share of time alone would give): job -> allocations -> GC -> pool -> P99 becomes one
finding, not three lines. GC absorbs event-loop blocks that coincide with GC pauses (a
stop-the-world pause is seen by the loop monitor as a block) and pool waits that move with
the GC pauses step by step when GC explains at least half as much.
"""

from __future__ import annotations

import numpy as np
from infersight.analysis._context import Context, mechanisms
from infersight.analysis._finding import Finding
from infersight.analysis.detectors._jobs import GRACE_NS, union
from scipy import stats

#: share of a mechanism's excess-carrying time that must fall in the root's active time
FOLD_SHARE = 0.6
#: ... and how much more than the root's share of requests that must be
FOLD_LIFT = 1.2
#: share of one mechanism's event time that another's events must cover to be its cause
COVER_MIN = 0.5
GC_POOL_SHARE = 0.5
GC_POOL_RHO = 0.7
ORDER = ("periodic_job_interference", "cold_start", "cache_stampede", "cache_miss_storm",
         "gpu_throttling", "gpu_saturation", "gpu_memory_pressure", "gpu_idle", "slow_downstream", "gc_pause",
         "event_loop_block", "pool_saturation")
_STEP_TEXT = {"gc_pause": "allocations -> gen-2 GC pauses", "event_loop_block": "event loop stalled",
              "pool_saturation": "connection pool exhausted", "slow_downstream": "dependency slowed"}


def _carried(ctx: Context, mechanism: str) -> np.ndarray | None:
    arr = mechanisms(ctx).get(mechanism)
    if arr is None:
        return None
    return np.minimum(arr, ctx.requests["excess_ms"].to_numpy())


def link(ctx: Context, root: Finding, other: Finding) -> float:
    """How strongly ``other``'s damage lies inside ``root``'s active time (0 = not at all)."""
    active = root.plot.get("active")
    mech = str(other.plot.get("mechanism", ""))
    carried = _carried(ctx, mech)
    if active is None or carried is None or carried.sum() <= 0:
        return 0.0
    active = np.asarray(active, dtype=bool)
    pair = (root.category, other.category)
    if root.category in _STEP_TEXT:
        # between runtime mechanisms only direct coincidence of the events says who caused whom
        if pair == ("gc_pause", "event_loop_block"):
            return _covered(_intervals(ctx, "loop"), _intervals(ctx, "gc"))
        if pair == ("gc_pause", "pool_saturation"):
            # a stop-the-world pause stalls the requests holding connections, so the others
            # queue: GC that matters (half the pool's explained excess or more) and moves with the
            # pool waits step by step is the cause
            if root.excess_share < GC_POOL_SHARE * other.excess_share:
                return 0.0
            rho = _step_correlation(ctx, "gc", "pool")
            return rho if rho >= GC_POOL_RHO else 0.0
        if root.excess_share < other.excess_share:
            return 0.0
        if pair == ("pool_saturation", "event_loop_block"):
            return _covered(_intervals(ctx, "loop"), _intervals(ctx, "pool"))
        if pair == ("event_loop_block", "pool_saturation"):
            return _covered(_intervals(ctx, "pool"), _intervals(ctx, "loop"))
        return 0.0
    inside = float(carried[active].sum() / carried.sum())
    frac = float(active.mean())
    if pair == ("periodic_job_interference", "event_loop_block"):
        # a job that holds the GIL or triggers stop-the-world pauses stalls the loop while it
        # runs: the loop's blocked time inside the job's runs (or the GC pauses during them)
        # says so directly, whatever the requests that happened to arrive then
        inside = max(inside, _covered(_intervals(ctx, "loop"), _job_time(ctx, root)))
        return inside if inside >= FOLD_SHARE and frac > 0 else 0.0
    if pair == ("periodic_job_interference", "gc_pause"):
        # GC pauses that start while the job runs are the job's garbage: the pause time inside
        # its runs says so directly, even when few requests happened to arrive during a run
        inside = max(inside, _covered(_intervals(ctx, "gc"), _job_time(ctx, root)))
        return inside if inside >= FOLD_SHARE and frac > 0 else 0.0
    if inside < FOLD_SHARE or frac <= 0 or inside / frac < FOLD_LIFT:
        return 0.0
    return inside


def _job_time(ctx: Context, job: Finding) -> tuple[np.ndarray, np.ndarray]:
    """A job's runs (plus the drain grace) and the GC pauses that started during them."""
    windows = sorted(job.plot.get("job_windows") or [])
    s = np.array([int(a) for a, _ in windows], dtype=np.int64)
    e = np.array([int(b) for _, b in windows], dtype=np.int64) + GRACE_NS
    if len(s) == 0:
        return s, e
    gs, ge = _intervals(ctx, "gc")
    idx = np.searchsorted(s, gs, side="right") - 1
    during = (idx >= 0) & (gs < e[np.clip(idx, 0, None)])
    return np.concatenate([s, gs[during]]), np.concatenate([e, ge[during]])


def _step_correlation(ctx: Context, a: str, b: str) -> float:
    """Spearman correlation of two mechanisms' per-step totals (20 steps over the window)."""
    m = mechanisms(ctx)
    if a not in m or b not in m:
        return 0.0
    step = max(1, (ctx.tel.until_ns - ctx.tel.since_ns) // 20)
    steps = ctx.requests["start_ns"].to_numpy() // step
    _, inv = np.unique(steps, return_inverse=True)
    sa, sb = np.bincount(inv, weights=m[a]), np.bincount(inv, weights=m[b])
    if len(sa) < 5 or np.ptp(sa) == 0 or np.ptp(sb) == 0:
        return 0.0
    return float(stats.spearmanr(sa, sb).statistic)


def _intervals(ctx: Context, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "pool":
        df = ctx.tel.query("detectors/pool_wait_intervals")
    else:
        ev = ctx.table("runtime_events")
        df = ev[ev["kind"] == kind]
        if len(ctx.requests):  # start-up pauses/stalls before the first request stalled nobody
            df = df[df["start_ns"] >= int(ctx.requests["start_ns"].min())]
    return df["start_ns"].to_numpy(dtype=np.int64), df["end_ns"].to_numpy(dtype=np.int64)


def _covered(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Share of the time in intervals ``a`` during which some interval of ``b`` was open
    (0 below COVER_MIN)."""
    if len(a[0]) == 0 or len(b[0]) == 0:
        return 0.0
    u0, u1 = union(b[0], b[1])
    covered = sum(float(np.clip(np.minimum(u1, e) - np.maximum(u0, s), 0, None).sum())
                  for s, e in zip(a[0], a[1], strict=True))
    total = float((a[1] - a[0]).sum())
    share = covered / total if total > 0 else 0.0
    return share if share >= COVER_MIN else 0.0


def merge(ctx: Context, findings: list[Finding]) -> list[Finding]:
    rank = {c: i for i, c in enumerate(ORDER)}
    ordered = sorted(findings, key=lambda f: (rank.get(f.category, len(ORDER)), -f.score))
    folded: set[int] = set()
    for root in ordered:
        if id(root) in folded:
            continue
        steps = []
        for other in ordered:
            if other is root or id(other) in folded or other.category not in _STEP_TEXT:
                continue
            strength = link(ctx, root, other)
            if strength <= 0:
                continue
            folded.add(id(other))
            steps.append(_STEP_TEXT[other.category])
            root.merged.extend([other.category, *other.merged])
            root.evidence.extend(other.evidence)
            # the absorbed finding's evidence now argues for the root, weighted by the link
            root.confidence = max(root.confidence, min(1.0, other.confidence * strength))
            root.excess_share = max(root.excess_share, other.excess_share)
        if steps:
            root.chain = [root.chain[0], *steps, root.chain[-1]]
            if root.category == "periodic_job_interference":
                root.title = f"{root.title.split(' slows requests')[0]} -> {' -> '.join(steps)} -> P99"
            else:
                root.title = f"{root.title} (-> {' -> '.join(steps)})"
    return [f for f in findings if id(f) not in folded]


def rank(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Merge overlapping findings, then order by impact x confidence (highest first)."""
    merged = merge(ctx, findings)
    return sorted(merged, key=lambda f: (f.score, f.confidence), reverse=True)
