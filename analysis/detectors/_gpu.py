"""GPU findings from the NVML samples, lined up with request latency per time step (data whose
request spans carry no per-request GPU aggregates; otherwise ``_gpu_requests`` decides).

- gpu_throttling: clocks held down (throttled, or SM clock < 85% of its max while busy) and
  requests in those steps slower than in the others. Not when the only clock event is the
  software power cap while the GPU is >= 90% busy: that is how a saturated card behaves (full
  load draws the board's power limit), so those steps count as saturation, with the power cap
  as evidence. Thermal / hardware slowdown / power brake always mean throttling.
- gpu_saturation: utilisation >= 90% (not throttled by a cause of its own) and requests in those
  steps slower; names processes that held GPU memory only while it was busy (a co-located job).
- gpu_idle: utilisation that fell against the baseline while requests kept coming (a model that
  silently moved to the CPU); not when memory is full (that is memory pressure).
- gpu_memory_pressure: memory used >= 95% of the card in the incident, not in the baseline.

Every category needs the state to be new in the incident (not in the baseline) and the requests
of those steps to be slower than the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    busy: float = 0.9
    idle: float = 0.05
    mem_pressure: float = 0.95
    clock_down: float = 0.85
    #: utilisation in the incident at most this fraction of the baseline's is a drop
    drop_ratio: float = 0.5
    max_p_value: float = 0.01
    min_share: float = 0.1


T = Thresholds()


class GpuDetector:
    name = "gpu"
    categories = (Category.GPU_THROTTLING, Category.GPU_SATURATION, Category.GPU_IDLE, Category.GPU_MEMORY_PRESSURE)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        from infersight.analysis.detectors._gpu_requests import has_request_gpu

        if has_request_gpu(ctx):
            return []  # the requests say what the GPU did while they ran: _gpu_requests
        steps = _sql.run(ctx.tel.con, "detectors/gpu_steps", step_ns=ctx.step_ns, **ctx.tel.range_params)
        if steps.empty or steps["util"].isna().all():
            return []
        reasons = _sql.run(ctx.tel.con, "detectors/gpu_throttle_reasons", **ctx.tel.range_params)
        out: list[Finding] = []
        for gpu, g in steps.groupby("gpu"):
            g, gap = _on_step_grid(g.set_index("ts_ns"), ctx.step_ns)
            out.extend(_for_gpu(ctx, str(gpu), g, reasons[reasons["gpu"] == gpu], gap, self.t))
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
    bucket_ts = ctx.requests["start_ns"].to_numpy() // ctx.step_ns * ctx.step_ns
    return np.isin(bucket_ts, np.asarray(steps, dtype=np.int64))


def _in(g: pd.DataFrame, lo: int | None, hi: int | None) -> np.ndarray:
    if lo is None or hi is None:
        return np.zeros(len(g), dtype=bool)
    ts = g.index.to_numpy()
    return np.asarray((ts >= lo) & (ts < hi), dtype=bool)


def _make(ctx: Context, category: Category, gpu: str, mask: np.ndarray, change: str, steps: pd.Index,
          evidence: list[Evidence], remediation: list[str], t: Thresholds, *, support: float = 1.0,
          cost: bool = False) -> Finding | None:
    hurt = mask & ctx.inc
    test = ctx.contrast(hurt) if hurt.any() else None
    share = ctx.excess_share(hurt)
    if not cost and (test is None or test.p_value > t.max_p_value or test.effect <= 0 or share < t.min_share):
        return None
    if hurt.any():
        evidence.insert(0, Evidence("p99_in_affected_steps_ms", round(ctx.p99(hurt), 1),
                                    round(ctx.baseline_p99, 1), ctx.exemplars(hurt)))
    cause = Cause(category, f"gpu {gpu}", "gpu", change, f"GPU {gpu}: {change}", "gpu", hurt, share, test,
                  support=support, start_ns=int(min(steps)) if len(steps) else None,
                  end_ns=int(max(steps)) + ctx.step_ns if len(steps) else None)
    return finding(ctx, cause, evidence=evidence, remediation=remediation, chain=[f"gpu {gpu}", change, "P99"])


def _for_gpu(ctx: Context, gpu: str, g: pd.DataFrame, reasons: pd.DataFrame, gap: int, t: Thresholds) -> list[Finding]:
    out: list[Finding | None] = []
    inc, base = ctx.incident, ctx.incident.baseline_ns or (None, None)
    g_inc = _in(g, inc.onset_ns, inc.end_ns or ctx.tel.until_ns)
    g_base = _in(g, base[0], base[1])
    util = g["util"]
    # busy in this sample or the next/previous one (a load step lands mid-sample: its average
    # utilisation is partial while the power cap already holds the clocks)
    util_near = util.rolling(2 * gap + 1, center=True, min_periods=1).max()
    clock_ratio = g["sm_clock"] / g["sm_clock_max"]
    clocks_down = (g["throttled"].fillna(0) > 0) | ((clock_ratio < t.clock_down) & (util > 0.3))
    # the power cap at full load is the consequence of saturation, not a cause of its own (only
    # decided where the decoded reasons were recorded; without them every clock drop counts)
    load_capped = (clocks_down & (util_near >= t.busy) & g["hard_throttle"].notna()
                   & (g["hard_throttle"].fillna(0) <= 0))
    throttled = clocks_down & ~load_capped
    reason_txt = ", ".join(f"{r.reason} {r.active_share:.0%}" for r in reasons.itertuples()
                           if r.reason not in ("idle", "applications_clocks", "sync_boost", "display_clocks"))
    new_throttle = throttled & g_inc
    if new_throttle.any() and float(throttled[g_inc].mean()) > float(throttled[g_base].mean() if g_base.any() else 0):
        steps = g.index[new_throttle]
        out.append(_make(
            ctx, Category.GPU_THROTTLING, gpu, _step_mask(ctx, steps),
            f"clocks throttled ({reason_txt or 'clock below max'})", steps,
            [Evidence("sm_clock_ratio_when_throttled", round(float(clock_ratio[new_throttle].mean()), 3),
                      round(float(clock_ratio[g_base].mean()), 3) if g_base.any() else None)],
            ["Check cooling and power limits (nvidia-smi -q -d PERFORMANCE); the clock-event reasons name "
             "power cap vs thermal vs hardware slowdown."], t))
    busy = (util >= t.busy) & ~throttled
    if (busy & g_inc).any() and float(busy[g_inc].mean()) > float(busy[g_base].mean() if g_base.any() else 0):
        steps = g.index[busy & g_inc]
        extra, evidence = _saturation_context(g, busy, load_capped)
        out.append(_make(
            ctx, Category.GPU_SATURATION, gpu, _step_mask(ctx, steps),
            f"saturated (utilisation >= {t.busy:.0%} in {busy[g_inc].mean():.0%} of the incident{extra})", steps,
            [Evidence("gpu_utilization", round(float(util[g_inc].mean()), 3),
                      round(float(util[g_base].mean()), 3) if g_base.any() else None), *evidence],
            ["Find what else uses the GPU (nvidia-smi pmon; co-located jobs); batch requests; add replicas "
             "or a bigger card; cap concurrency so the queue does not grow."], t))
    mem = g["mem_used"] / g["mem_limit"]
    pressure = (mem >= t.mem_pressure) & g_inc
    if pressure.any() and not (g_base.any() and float(mem[g_base].max()) >= t.mem_pressure):
        steps = g.index[pressure]
        out.append(_make(
            ctx, Category.GPU_MEMORY_PRESSURE, gpu, _step_mask(ctx, steps),
            f"memory {float(mem[g_inc].max()):.0%} full", steps,
            [Evidence("gpu_memory_used_share", round(float(mem[g_inc].max()), 3),
                      round(float(mem[g_base].max()), 3) if g_base.any() else None)],
            ["Lower max batch / sequence length or KV-cache size; free cached allocations; use a larger card."], t))
    serving = g.index.isin(np.unique(ctx.requests["start_ns"].to_numpy() // ctx.step_ns * ctx.step_ns))
    up = g["up"].fillna(1) > 0
    idle = (util <= t.idle) & up & serving
    if g_base.any() and (g_inc & serving).any() and not pressure.any():
        u_inc, u_base = float(util[g_inc & serving].mean()), float(util[g_base & serving].mean()) if (g_base & serving).any() else 0.0
        if u_base > 2 * t.idle and u_inc <= t.drop_ratio * u_base and float(idle[g_inc].mean()) >= 0.5:
            steps = g.index[idle & g_inc]
            out.append(_make(
                ctx, Category.GPU_IDLE, gpu, _step_mask(ctx, steps),
                f"utilisation fell {u_base:.0%} -> {u_inc:.0%} while requests kept coming (model serving on the CPU?)",
                steps, [Evidence("gpu_utilization_while_serving", round(u_inc, 4), round(u_base, 4))],
                ["Check where the model runs (torch.cuda.is_available(), the model's device) and the CUDA/driver "
                 "versions of the last deploy; move the model back to the GPU."], t))
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

DETECTOR = GpuDetector()
