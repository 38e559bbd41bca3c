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
from infersight.analysis import _intervals, _sql
from infersight.analysis._calibration import calibrated
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Finding

#: share of a mechanism's rise that must fall inside the cause's active requests / time ...
FOLD_SHARE = 0.6
#: ... and how much more than the cause's share of the affected requests that must be
FOLD_LIFT = 1.2
#: a cause active for this much of the incident links a mechanism whose rise lies this much in it
COVER_ALL = 0.75
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
    if Category(root.category) is not C.PERIODIC_JOB_INTERFERENCE and active.any():
        # requests that arrived while the cause's own requests were still running queued behind
        # them (a model on the CPU, a stampede's loads): they are the cause's too
        r = ctx.requests
        iv = (r["start_ns"].to_numpy()[active], r["end_ns"].to_numpy()[active])
        active = active | (_intervals.contains(iv, r["start_ns"].to_numpy()) & ctx.inc)
    inside = float(rise[active].sum() / rise.sum())
    # the cause's share of the incident's requests (the sample over-represents affected ones:
    # each sampled request stands for its group)
    inc = dec.sampled(n) & ctx.inc
    aff = ctx.affected()
    w = np.zeros(n)
    for group in (ctx.inc & aff, ctx.inc & ~aff):
        k = int((inc & group).sum())
        if k:
            w[inc & group] = group.sum() / k
    frac = float((w * active).sum() / w.sum()) if w.sum() > 0 else 0.0
    if frac >= COVER_ALL and inside >= COVER_ALL:
        # the cause holds for (nearly) the whole incident and the mechanism's rise lies in it: no
        # lift to measure, but the two cover the same time (the cause's own test says it is new)
        return inside
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
    windows = root.windows
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


#: steps over the baseline + incident for step correlations, and the correlation that links
CORR_STEPS = 30
CORR_MIN = 0.5


def _activity(ctx: Context, root: Finding, edges: np.ndarray) -> np.ndarray | None:
    """Per step, how active the cause was: a cache's misses, GC pause time, a job's running share."""
    cat = Category(root.category)
    if cat in (C.CACHE_STAMPEDE, C.CACHE_MISS_STORM):
        calls = _sql.table(ctx.tel.con, "f_cache_calls")
        t = calls.loc[(calls["cache"] == root.root_cause.entity) & ~calls["hit"], "start_ns"].to_numpy()
        return np.histogram(t, bins=edges)[0].astype(float)
    if cat is C.GC_PAUSE:
        s, e = _events(ctx, "gc")
        return np.array([_intervals.overlap_ns((s, e), edges[i:i + 1], edges[i + 1:i + 2])[0]
                         for i in range(len(edges) - 1)], dtype=float)
    if cat in (C.GPU_SATURATION, C.GPU_THROTTLING):
        steps = _sql.run(ctx.tel.con, "detectors/gpu_steps", step_ns=int(edges[1] - edges[0]), **ctx.tel.range_params)
        if steps.empty:
            return None
        g = steps[steps["gpu"].astype(str) == root.root_cause.entity.removeprefix("gpu ")]
        col = "throttled" if cat is C.GPU_THROTTLING else "util"
        util = np.zeros(len(edges) - 1)
        idx = np.searchsorted(edges, g["ts_ns"].to_numpy(), side="right") - 1
        ok = (idx >= 0) & (idx < len(util))
        np.add.at(util, idx[ok], g[col].fillna(0).to_numpy(dtype=float)[ok])
        return util
    if cat is C.PERIODIC_JOB_INTERFERENCE:
        iv = _job_time(root)
        return _intervals.overlap_ns(iv, edges[:-1], edges[1:]).astype(float)
    if root.active is not None:
        # any other cause: how many of the requests it was active for started in each step
        t = ctx.requests["start_ns"].to_numpy()[np.asarray(root.active, dtype=bool)]
        return np.histogram(t, bins=edges)[0].astype(float)
    return None


def moves_with(ctx: Context, root: Finding, other: Finding) -> float:
    """Work a cause adds (loads after misses, GC, a job's runs) slows every request that shares the
    CPU, not only those that missed or arrived during a run: the mechanism's per-step rise moves
    with the cause's per-step activity (Spearman rho over the baseline and the incident)."""
    from scipy import stats

    inc = ctx.incident
    if inc.onset_ns is None or inc.baseline_ns is None:
        return 0.0
    lo = min(inc.baseline_ns[0], inc.onset_ns)
    hi = max(inc.end_ns or ctx.tel.until_ns, inc.baseline_ns[1])
    edges = np.linspace(lo, hi, CORR_STEPS + 1).astype(np.int64)
    act = _activity(ctx, root, edges)
    dec = ctx.parts()
    n = len(ctx.requests)
    if act is None or other.mechanism not in dec.parts or np.ptp(act) == 0:
        return 0.0
    col = dec.column(other.mechanism, n)
    sampled = dec.sampled(n)
    t = ctx.requests["start_ns"].to_numpy()
    step = np.searchsorted(edges, t, side="right") - 1
    ok = sampled & (step >= 0) & (step < CORR_STEPS)
    sums = np.bincount(step[ok], weights=col[ok], minlength=CORR_STEPS)
    counts = np.bincount(step[ok], minlength=CORR_STEPS)
    have = counts >= 3
    if have.sum() < 8:
        return 0.0
    rho = float(stats.spearmanr(act[have], sums[have] / counts[have]).statistic)
    return rho if rho >= CORR_MIN else 0.0


#: a dependency whose calls each got this much slower is a cause, not a cache's consequence ...
SLOWER_PER_CALL = 1.5
#: ... unless it got this many more calls per request (a cache that stopped absorbing them)
MORE_CALLS = 1.5


def _per_call_ratio(ctx: Context, f: Finding) -> float:
    ch = ctx.parts().change(f.mechanism)
    if ch is None or ch.per_call_baseline_ms <= 0:
        return 1.0
    return ch.per_call_incident_ms / ch.per_call_baseline_ms


def _calls_ratio(ctx: Context, f: Finding) -> float:
    ch = ctx.parts().change(f.mechanism)
    if ch is None or ch.calls_baseline <= 0:
        return 1.0
    return ch.calls_incident / ch.calls_baseline


def cache_causes_calls(ctx: Context, root: Finding, other: Finding) -> float:
    """A cache that misses more sends more calls downstream - and a dependency given more calls
    at once may answer each more slowly (its own queue): the cache's finding absorbs the
    dependency's when the calls per request rose, whatever each call took."""
    if _calls_ratio(ctx, other) < MORE_CALLS:
        return 0.0
    return either(rise_inside, moves_with)(ctx, root, other)


def slow_loads_cause_misses(ctx: Context, root: Finding, other: Finding) -> float:
    """A loader that got slower keeps keys missing longer (more requests miss while one loads): a
    dependency whose calls each got much slower - with no more calls than before - absorbs the
    cache storm it caused, when the storm's time lies in the requests where its time rose."""
    if (_per_call_ratio(ctx, root) < SLOWER_PER_CALL or _calls_ratio(ctx, root) >= MORE_CALLS
            or root.active is None or other.active is None):
        return 0.0
    a, b = np.asarray(root.active, dtype=bool), np.asarray(other.active, dtype=bool)
    if not b.any():
        return 0.0
    overlap = float((a & b).sum() / b.sum())
    return overlap if overlap >= 0.5 else 0.0


def either(*links: Callable[[Context, Finding, Finding], float]) -> Callable[[Context, Finding, Finding], float]:
    def link(ctx: Context, root: Finding, other: Finding) -> float:
        return max(f(ctx, root, other) for f in links)

    return link


#: (cause, mechanism) -> link strength (0 = no measured link)
FOLD_RULES: dict[tuple[Category, Category], Callable[[Context, Finding, Finding], float]] = {
    (C.PERIODIC_JOB_INTERFERENCE, C.GC_PAUSE): job_runtime("gc"),
    (C.PERIODIC_JOB_INTERFERENCE, C.EVENT_LOOP_BLOCK): job_runtime("loop"),
    (C.PERIODIC_JOB_INTERFERENCE, C.POOL_SATURATION): rise_inside,
    (C.PERIODIC_JOB_INTERFERENCE, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.PERIODIC_JOB_INTERFERENCE, C.SLOW_DOWNSTREAM): rise_inside,
    (C.COLD_START, C.CACHE_MISS_STORM): rise_inside,
    (C.COLD_START, C.CPU_CONTENTION): rise_inside,
    (C.CACHE_STAMPEDE, C.SLOW_DOWNSTREAM): cache_causes_calls,
    (C.CACHE_STAMPEDE, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.CACHE_STAMPEDE, C.POOL_SATURATION): rise_inside,
    (C.CACHE_MISS_STORM, C.SLOW_DOWNSTREAM): cache_causes_calls,
    (C.SLOW_DOWNSTREAM, C.CACHE_MISS_STORM): slow_loads_cause_misses,
    (C.SLOW_DOWNSTREAM, C.CACHE_STAMPEDE): slow_loads_cause_misses,
    (C.CACHE_MISS_STORM, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.CACHE_MISS_STORM, C.POOL_SATURATION): rise_inside,
    (C.SLOW_DOWNSTREAM, C.POOL_SATURATION): rise_inside,
    (C.GPU_MEMORY_PRESSURE, C.GPU_IDLE): either(rise_inside, moves_with),
    (C.GPU_MEMORY_PRESSURE, C.GPU_SATURATION): rise_inside,
    (C.GPU_MEMORY_PRESSURE, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.GPU_IDLE, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.GPU_SATURATION, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.GPU_THROTTLING, C.CPU_CONTENTION): either(rise_inside, moves_with),
    (C.CACHE_MISS_STORM, C.GPU_THROTTLING): rise_inside,
    (C.GC_PAUSE, C.EVENT_LOOP_BLOCK): runtime_covers("gc", "loop"),
    (C.GC_PAUSE, C.POOL_SATURATION): either(rise_inside, moves_with),
    (C.GC_PAUSE, C.CPU_CONTENTION): either(rise_inside, moves_with),
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
            if Category(other.category).chain_text not in steps and Category(other.category).chain_text not in root.chain:
                steps.append(Category(other.category).chain_text)
            root.merged.extend([other.category, *other.merged])
            root.evidence.extend(other.evidence)
            # the absorbed finding's evidence now argues for the root, weighted by the link (on the
            # raw scale, then calibrated like any finding)
            raw = max(root.features.get("raw", 0.0), other.features.get("raw", 0.0) * strength)
            if "raw" in root.features:
                root.features["raw"] = raw
                root.features["link"] = max(root.features.get("link", 0.0), strength)
                root.confidence = calibrated(raw)
            else:
                root.confidence = max(root.confidence, min(1.0, other.confidence * strength))
            absorbed += other.excess_share
        if root.merged:
            root.excess_share = float(min(1.0, max(root.excess_share, absorbed)))
        if steps:
            root.chain = [*root.chain[:-1], *steps, root.chain[-1]]
    return [f for f in findings if id(f) not in folded]


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per (category, entity): two detectors that reached the same cause by different
    means (the latency decomposition, the service-by-service view) are one finding with both
    evidences; the stronger one leads."""
    by_key: dict[tuple[str, str], Finding] = {}
    for f in sorted(findings, key=lambda f: -f.score):
        key = (f.category, f.root_cause.entity)
        if key in by_key:
            kept = by_key[key]
            kept.evidence.extend(e for e in f.evidence if e not in kept.evidence)
            kept.excess_share = max(kept.excess_share, f.excess_share)
        else:
            by_key[key] = f
    return [f for f in findings if by_key.get((f.category, f.root_cause.entity)) is f]


def rank(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold mechanisms into causes, then order by impact x confidence (highest first); findings
    with no confidence left are not listed."""
    merged = [f for f in merge(ctx, dedupe(findings)) if f.confidence >= 0.01]
    ranked = sorted(merged, key=lambda f: (f.score, f.confidence, -Category(f.category).order), reverse=True)
    # shares of the P99 excess never add up past all of it: each finding explains what the ones
    # ranked above it left (causes found by different means can overlap)
    left = {"latency": 1.0, "errors": 1.0}
    for f in ranked:
        sli = "errors" if f.category == C.CODE_DEFECT.value else "latency"
        f.excess_share = float(min(f.excess_share, left[sli]))
        left[sli] = max(0.0, left[sli] - f.excess_share)
    return ranked


__all__ = ["FOLD_RULES", "dedupe", "merge", "rank", "rise_inside"]
