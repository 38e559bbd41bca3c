"""Ranking findings by impact x confidence and folding mechanisms into their causes.

``FOLD_RULES`` is the table of measured links: (cause, mechanism) -> how to measure that the
mechanism's damage lies inside the cause's (its rise concentrated in the requests the cause was
active for, or its events inside the cause's time). A cause absorbs a mechanism only when that
link is measured to hold: job -> allocations -> GC -> loop -> pool becomes one finding with one
chain, not four lines; a GPU that is saturated does not absorb a GC pause (no measured link).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from infersight.analysis import _intervals
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Finding

#: share of a mechanism's rise that must fall inside the cause's active requests / time ...
FOLD_SHARE = 0.6
#: ... and how much more than the cause's share of the affected requests that must be
FOLD_LIFT = 1.2
#: a job's garbage and queued requests drain shortly after a run ends
GRACE_NS = 500_000_000

C = Category


def rise_inside(ctx: Context, root: Finding, other: Finding) -> float:
    """Share of ``other``'s per-request rise (its decomposition part above the baseline mean) that
    falls in requests where ``root`` was active; 0 unless concentrated there (FOLD_SHARE, FOLD_LIFT)."""
    dec = ctx.parts()
    part = other.mechanism
    n = len(ctx.requests)
    if root.active is None or part not in dec.parts:
        return 0.0
    sel = dec.sampled(n) & ctx.affected()
    base = dec.sampled(n) & ctx.base
    col = dec.column(part, n)
    mu = float(col[base].mean()) if base.any() else 0.0
    rise = np.where(sel, np.clip(col - mu, 0, None), 0.0)
    if rise.sum() <= 0:
        return 0.0
    active = np.asarray(root.active, dtype=bool)
    inside = float(rise[active].sum() / rise.sum())
    frac = float(active[sel].mean()) if sel.any() else 0.0
    if inside < FOLD_SHARE or frac <= 0 or inside / frac < FOLD_LIFT:
        return 0.0
    return inside


def _events(ctx: Context, kind: str) -> _intervals.Intervals:
    ev = ctx.table("runtime_events")
    ev = ev[ev["kind"] == kind]
    inc = ctx.incident
    if inc.onset_ns is not None:
        ev = ev[(ev["end_ns"] > inc.onset_ns) & (ev["start_ns"] < (inc.end_ns or ctx.tel.until_ns))]
    return ev["start_ns"].to_numpy(dtype=np.int64), ev["end_ns"].to_numpy(dtype=np.int64)


def _job_time(root: Finding) -> _intervals.Intervals:
    windows = root.plot.get("job_windows") or []
    s = np.array([int(a) for a, _ in windows], dtype=np.int64)
    e = np.array([int(b) for _, b in windows], dtype=np.int64) + GRACE_NS
    return s, e


def job_runtime(kind: str) -> Callable[[Context, Finding, Finding], float]:
    """A job causes GC pauses / loop blocks when they happen while it runs (the pause time inside
    its runs says so directly), or when the loop blocks name the job."""

    def link(ctx: Context, root: Finding, other: Finding) -> float:
        covered = _intervals.covered_share(_events(ctx, kind), _job_time(root))
        if kind == "loop" and other.root_cause.entity == root.root_cause.entity:
            covered = 1.0
        best = max(rise_inside(ctx, root, other), covered)
        return best if best >= FOLD_SHARE else 0.0

    return link


def runtime_covers(cause_kind: str, effect_kind: str) -> Callable[[Context, Finding, Finding], float]:
    """A stop-the-world GC pause is seen by the loop monitor as a block: loop blocks inside GC pauses."""

    def link(ctx: Context, root: Finding, other: Finding) -> float:
        covered = _intervals.covered_share(_events(ctx, effect_kind), _events(ctx, cause_kind))
        return covered if covered >= 0.5 else 0.0

    return link


#: (cause, mechanism) -> link strength (0 = no measured link)
FOLD_RULES: dict[tuple[Category, Category], Callable[[Context, Finding, Finding], float]] = {
    (C.PERIODIC_JOB_INTERFERENCE, C.GC_PAUSE): job_runtime("gc"),
    (C.PERIODIC_JOB_INTERFERENCE, C.EVENT_LOOP_BLOCK): job_runtime("loop"),
    (C.PERIODIC_JOB_INTERFERENCE, C.POOL_SATURATION): rise_inside,
    (C.PERIODIC_JOB_INTERFERENCE, C.CPU_CONTENTION): rise_inside,
    (C.PERIODIC_JOB_INTERFERENCE, C.SLOW_DOWNSTREAM): rise_inside,
    (C.COLD_START, C.CACHE_MISS_STORM): rise_inside,
    (C.COLD_START, C.CPU_CONTENTION): rise_inside,
    (C.CACHE_STAMPEDE, C.SLOW_DOWNSTREAM): rise_inside,
    (C.CACHE_STAMPEDE, C.CPU_CONTENTION): rise_inside,
    (C.CACHE_STAMPEDE, C.POOL_SATURATION): rise_inside,
    (C.CACHE_MISS_STORM, C.SLOW_DOWNSTREAM): rise_inside,
    (C.CACHE_MISS_STORM, C.CPU_CONTENTION): rise_inside,
    (C.CACHE_MISS_STORM, C.POOL_SATURATION): rise_inside,
    (C.SLOW_DOWNSTREAM, C.POOL_SATURATION): rise_inside,
    (C.GC_PAUSE, C.EVENT_LOOP_BLOCK): runtime_covers("gc", "loop"),
    (C.GC_PAUSE, C.POOL_SATURATION): rise_inside,
    (C.EVENT_LOOP_BLOCK, C.POOL_SATURATION): rise_inside,
}


def merge(ctx: Context, findings: list[Finding]) -> list[Finding]:
    ordered = sorted(findings, key=lambda f: (Category(f.category).order, -f.score))
    folded: set[int] = set()
    for root in ordered:
        if id(root) in folded:
            continue
        steps: list[str] = []
        absorbed = 0.0
        for other in ordered:
            if other is root or id(other) in folded:
                continue
            rule = FOLD_RULES.get((Category(root.category), Category(other.category)))
            strength = rule(ctx, root, other) if rule else 0.0
            if strength <= 0:
                continue
            folded.add(id(other))
            steps.append(Category(other.category).chain_text)
            root.merged.extend([other.category, *other.merged])
            root.evidence.extend(other.evidence)
            # the absorbed finding's evidence now argues for the root, weighted by the link
            root.confidence = max(root.confidence, min(1.0, other.confidence * strength))
            absorbed += other.excess_share
        if steps:
            root.excess_share = float(min(1.0, max(root.excess_share, absorbed)))
            root.chain = [root.chain[0], *steps, root.chain[-1]]
            root.title = f"{root.title} (-> {' -> '.join(steps)})"
    return [f for f in findings if id(f) not in folded]


def rank(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold mechanisms into causes, then order by impact x confidence (highest first); findings
    with no confidence left are not listed."""
    merged = [f for f in merge(ctx, findings) if f.confidence >= 0.01]
    return sorted(merged, key=lambda f: (f.score, f.confidence, -Category(f.category).order), reverse=True)


__all__ = ["FOLD_RULES", "merge", "rank", "rise_inside"]
