"""GPU findings from the NVML samples, lined up with request latency per time step.

- gpu_throttling: clocks held down (throttled, or SM clock < 85% of its max while busy) and
  requests in those steps slower than in the others. Not when the only clock event is the
  software power cap while the GPU is >= 90% busy: that is how a saturated card behaves (full
  load draws the board's power limit), so those steps count as saturation, with the power cap
  as evidence. Thermal / hardware slowdown / power brake always mean throttling.
- gpu_saturation: utilisation >= 90% (not throttled by a cause of its own) and requests in those
  steps slower; names processes that held GPU memory only while it was busy (a co-located job).
- gpu_idle: a GPU that is up but near 0% busy while requests are being served (a model on the
  CPU, or a GPU paid for and unused).
- gpu_memory_pressure: memory used >= 95% of the card.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso

BUSY = 0.9
IDLE = 0.05
MEM_PRESSURE = 0.95
CLOCK_DOWN = 0.85


def detect(ctx: Context) -> list[Finding]:
    steps = _sql.run(ctx.tel.con, "detectors/gpu_steps", step_ns=ctx.step_ns, **ctx.tel.params)
    if steps.empty or steps["util"].isna().all():
        return []
    reasons = _sql.run(ctx.tel.con, "detectors/gpu_throttle_reasons", **ctx.tel.params)
    out: list[Finding] = []
    for gpu, g in steps.groupby("gpu"):
        g, gap = _on_step_grid(g.set_index("ts_ns"), ctx.step_ns)
        out.extend(_for_gpu(ctx, str(gpu), g, reasons[reasons["gpu"] == gpu], gap))
    return out


def _on_step_grid(g: pd.DataFrame, step_ns: int) -> tuple[pd.DataFrame, int]:
    """Samples exported every few seconds leave request steps without a GPU row; each sample
    stands for the steps until the next one (held for at most the usual gap), so the requests of
    those steps are compared on the GPU state they ran under. Returns the grid and the gap in steps."""
    if len(g) < 2:
        return g, 1
    gap = max(1, int(round(float(np.median(np.diff(g.index.to_numpy()))) / step_ns)))
    if gap == 1:
        return g, 1
    grid = pd.RangeIndex(int(g.index.min()), int(g.index.max()) + step_ns, step_ns)
    held = g.reindex(grid).ffill(limit=gap - 1)
    held.index.name = g.index.name
    return held.dropna(subset=["util"]), gap


def _step_mask(ctx: Context, steps: pd.Index) -> np.ndarray:
    bucket_ts = ctx.requests["bucket"].to_numpy() * ctx.step_ns
    return np.isin(bucket_ts, np.asarray(steps, dtype=np.int64))


def _finding(ctx: Context, category: str, gpu: str, mask: np.ndarray, change: str, steps: pd.Index,
             evidence: list[Evidence], remediation: list[str], *, support: float = 1.0,
             p_override: tuple[float, float, float] | None = None) -> Finding | None:
    if p_override is None:
        p_value, effect = ctx.contrast(mask)
        share = ctx.excess_share(mask)
        if share <= 0 or effect <= 0:
            return None
    else:
        p_value, effect, share = p_override
    evidence = [*evidence, Evidence("mann_whitney_p_value", p_value, None)]
    if mask.any():
        evidence.insert(0, Evidence("p99_in_affected_steps_ms", round(ctx.p99(mask), 1),
                                    round(ctx.p99(~mask), 1) if (~mask).any() else None, ctx.exemplars(mask)))
    return Finding(
        category=category, title=f"GPU {gpu}: {change}",
        root_cause=RootCause(entity=f"gpu {gpu}", kind="gpu", state_change=change,
                             start=iso(min(steps)) if len(steps) else None,
                             end=iso(max(steps) + ctx.step_ns) if len(steps) else None),
        symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.baseline_p99, 1),
                        observed=round(ctx.observed_p99, 1)),
        impact=Impact(share_of_requests=float(mask.mean()), window=ctx.window),
        effect_size=round(effect, 3), confidence=confidence(p_value, share, effect, support=support),
        evidence=evidence,
        counterfactual={"sli_if_fixed": round(ctx.p99(~mask), 1) if (~mask).any() else None,
                        "p99_excess_removed_share": round(share, 3)},
        remediation=remediation, chain=[f"gpu {gpu}", change, "P99"], excess_share=share,
        plot={"gpu": gpu, "active": mask},
    )


def _for_gpu(ctx: Context, gpu: str, g: pd.DataFrame, reasons: pd.DataFrame, gap: int = 1) -> list[Finding]:
    out: list[Finding | None] = []
    util = g["util"]
    # busy in this sample or the next/previous one (a load step lands mid-sample: its average
    # utilisation is partial while the power cap already holds the clocks)
    util_near = util.rolling(2 * gap + 1, center=True, min_periods=1).max()
    clock_ratio = g["sm_clock"] / g["sm_clock_max"]
    clocks_down = (g["throttled"].fillna(0) > 0) | ((clock_ratio < CLOCK_DOWN) & (util > 0.3))
    # the power cap at full load is the consequence of saturation, not a cause of its own (only
    # decided where the decoded reasons were recorded; without them every clock drop counts)
    load_capped = (clocks_down & (util_near >= BUSY) & g["hard_throttle"].notna()
                   & (g["hard_throttle"].fillna(0) <= 0))
    throttled = clocks_down & ~load_capped
    reason_txt = ", ".join(f"{r.reason} {r.active_share:.0%}" for r in reasons.itertuples()
                           if r.reason not in ("idle", "applications_clocks", "sync_boost", "display_clocks"))
    if throttled.any():
        steps = g.index[throttled]
        out.append(_finding(
            ctx, "gpu_throttling", gpu, _step_mask(ctx, steps),
            f"clocks throttled ({reason_txt or 'clock below max'})", steps,
            [Evidence("sm_clock_ratio_when_throttled", round(float(clock_ratio[throttled].mean()), 3),
                      round(float(clock_ratio[~throttled].mean()), 3) if (~throttled).any() else None)],
            ["Check cooling and power limits (nvidia-smi -q -d PERFORMANCE); the clock-event reasons name "
             "power cap vs thermal vs hardware slowdown."]))
    busy = (util >= BUSY) & ~throttled
    if busy.any():
        steps = g.index[busy]
        extra, evidence = _saturation_context(g, busy, load_capped)
        out.append(_finding(
            ctx, "gpu_saturation", gpu, _step_mask(ctx, steps),
            f"saturated (utilisation >= {BUSY:.0%} in {busy.mean():.0%} of the time{extra})", steps,
            [Evidence("gpu_utilization_when_busy", round(float(util[busy].mean()), 3),
                      round(float(util[~busy].mean()), 3) if (~busy).any() else None), *evidence],
            ["Find what else uses the GPU (nvidia-smi pmon; co-located jobs); batch requests; add replicas "
             "or a bigger card; cap concurrency so the queue does not grow."]))
    serving = g.index.isin(ctx.requests["bucket"].unique() * ctx.step_ns)
    up = g["up"].fillna(1) > 0
    idle = (util <= IDLE) & up & serving
    if serving.any() and idle[serving].mean() >= 0.8:
        steps = g.index[idle]
        mask = _step_mask(ctx, steps)
        share_time = float(idle[serving].mean())
        out.append(_finding(
            ctx, "gpu_idle", gpu, mask, f"idle ({float(util[serving].mean()):.0%} busy) while serving requests",
            steps, [Evidence("gpu_utilization_while_serving", round(float(util[serving].mean()), 4), None),
                    Evidence("idle_share_of_serving_time", round(share_time, 3), None)],
            ["Check where the model runs (torch device); move it to the GPU or give the GPU back."],
            p_override=(1e-6, share_time, float(mask.mean()))))
    mem = g["mem_used"] / g["mem_limit"]
    pressure = mem >= MEM_PRESSURE
    if pressure.any():
        steps = g.index[pressure]
        out.append(_finding(
            ctx, "gpu_memory_pressure", gpu, _step_mask(ctx, steps),
            f"memory {float(mem.max()):.0%} full", steps,
            [Evidence("gpu_memory_used_share", round(float(mem.max()), 3), round(float(mem.median()), 3))],
            ["Lower max batch / sequence length or KV-cache size; free cached allocations; use a larger card."]))
    return [f for f in out if f is not None]


def _pids(cell: object) -> set[str]:
    if not isinstance(cell, (list, tuple, np.ndarray)):  # no process samples in that step (NA)
        return set()
    return {str(p) for p in cell}


def _saturation_context(g: pd.DataFrame, busy: pd.Series, load_capped: pd.Series) -> tuple[str, list[Evidence]]:
    """What the busy steps had that the others did not: processes that held GPU memory only
    then (a co-located job), and clocks at the software power cap (full load)."""
    extra, evidence = "", []
    if "pids" in g and (~busy).any():
        during = set().union(*(_pids(c) for c in g["pids"][busy]))
        before = set().union(*(_pids(c) for c in g["pids"][~busy]))
        new = sorted(during - before, key=lambda p: (len(p), p))
        if new:
            extra += f"; {len(new)} other process(es) on the GPU only then: pid {', '.join(new[:5])}"
            evidence.append(Evidence("gpu_processes_when_busy", len(during), len(before)))
    capped = float(load_capped[busy].mean())  # called with at least one busy step
    if capped > 0:
        extra += f"; clocks at the power cap {capped:.0%} of that time"
        evidence.append(Evidence("power_capped_share_when_busy", round(capped, 3), None))
    return extra, evidence

