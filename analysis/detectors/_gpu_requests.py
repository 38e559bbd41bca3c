"""GPU causes read off each request: what the GPU did while that request ran.

infersight's GPU plane writes on every request span the GPU's mean utilisation during it, the
share other processes used, throttling, allocation failures (OOMs, allocator retries), memory in
use and the device the model served on (docs/gpu.md). So no 5 s sample held forward decides
which requests a GPU state touched: per request, incident against baseline.

- ``gpu_idle`` (serving on the CPU): requests the model served off the GPU (``cpu``) where the
  baseline's ran on CUDA; names the device change the plane recorded (declared or detected).
- ``gpu_memory_pressure``: allocation failures on the incident's requests (none in the baseline),
  or memory in use near the card's size; names the process holding the most memory. Takes
  precedence over idle (a model in OOM back-off also leaves the GPU idle).
- ``gpu_saturation``: other processes' share of the GPU rose during the requests (a co-located
  job, named by pid and executable) - or the GPU was at full utilisation with this process alone.
- ``gpu_throttling``: requests that ran while the clocks were throttled, where baseline ones did not.

Each finding's active requests are the ones in that GPU state, so the fold rules can tell
whether the CPU time that rose (the request waiting on a slower device) lies in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis._stats import Test, as_bool, mann_whitney, rate_increase
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    max_p_value: float = 0.01
    min_share: float = 0.05
    #: another process using at least this share of the GPU during a request is contention
    other_util: float = 0.1
    busy_util: float = 0.9
    memory_full: float = 0.95


T = Thresholds()


def has_request_gpu(ctx: Context) -> bool:
    r = ctx.requests
    return "gpu_util" in r and bool(r["gpu_util"].notna().any() or r["model_device"].notna().any())


class GpuRequestDetector:
    name = "gpu_requests"
    categories = (Category.GPU_IDLE, Category.GPU_MEMORY_PRESSURE, Category.GPU_SATURATION, Category.GPU_THROTTLING)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        if not has_request_gpu(ctx) or ctx.incident.baseline_ns is None:
            return []
        r = ctx.requests
        inc, base = ctx.inc, ctx.base
        out: list[Finding | None] = [self._device(ctx, r, inc, base), self._memory(ctx, r, inc, base),
                                     self._contention(ctx, r, inc, base), self._throttled(ctx, r, inc, base)]
        return [f for f in out if f is not None]

    # -- helpers -------------------------------------------------------------------------------
    def _rate_finding(self, ctx: Context, flag: np.ndarray, inc: np.ndarray, base: np.ndarray) -> Test | None:
        test = rate_increase(int((flag & inc).sum()), int(inc.sum()), int((flag & base).sum()), int(base.sum()))
        if test is None or test.p_value > self.t.max_p_value or test.effect <= 0:
            return None
        return test

    def _window(self, ctx: Context) -> tuple[int, int]:
        return int(ctx.incident.onset_ns or ctx.tel.since_ns), int(ctx.incident.end_ns or ctx.tel.until_ns)

    # -- the causes ----------------------------------------------------------------------------
    def _device(self, ctx: Context, r: pd.DataFrame, inc: np.ndarray, base: np.ndarray) -> Finding | None:
        dev = r["model_device"].astype(str).str.lower()
        off = (dev.str.startswith("cpu")).to_numpy() & r["model_device"].notna().to_numpy()
        test = self._rate_finding(ctx, off, inc, base)
        share = ctx.excess_share(off & inc)
        if test is None or share < self.t.min_share:
            return None
        lo, hi = self._window(ctx)
        base_lo = ctx.incident.baseline_ns[0] if ctx.incident.baseline_ns is not None else lo
        changes = _sql.run(ctx.tel.con, "detectors/model_device_changes", lo_ns=base_lo, hi_ns=hi)
        to_cpu = changes[changes["device"].astype(str).str.lower().str.startswith("cpu")]
        fact = ""
        if len(to_cpu):
            c = to_cpu.iloc[0]
            fact = (f"model '{c['model']}' moved {c['previous']} -> {c['device']} ({c['source']})"
                    + (f", torch.cuda.is_available() = {c['cuda_available']}" if c["cuda_available"] else ""))
        util_i = float(np.nanmean(r["gpu_util"].to_numpy(dtype=float)[inc])) if inc.any() else float("nan")
        util_b = float(np.nanmean(r["gpu_util"].to_numpy(dtype=float)[base])) if base.any() else float("nan")
        change = fact or f"{(off & inc).sum()} of {inc.sum()} requests served on the CPU"
        cause = Cause(Category.GPU_IDLE, "model device", "runtime", change,
                      f"The model serves on the CPU: {change}; GPU utilisation {util_b:.0%} -> {util_i:.0%}",
                      "device", off & inc, share, test,
                      start_ns=int(to_cpu["start_ns"].iloc[0]) if len(to_cpu) else None)
        return finding(ctx, cause, evidence=[
            Evidence("requests_served_on_cpu_share", round(float(off[inc].mean()), 3), round(float(off[base].mean()), 3),
                     ctx.exemplars(off & inc)),
            Evidence("gpu_utilization_during_requests", round(util_i, 4), round(util_b, 4)),
            Evidence("device_changes", [f"{d.previous} -> {d.device} ({d.source})" for d in changes.itertuples()], None)],
            remediation=["Find why the model left the GPU (CUDA/driver/torch version of the last deploy, "
                         "torch.cuda.is_available(), an OOM fallback) and move it back; alert on "
                         "infersight.model.device."],
            chain=["model on the CPU", "every request runs on the CPU", "P99"])

    def _memory(self, ctx: Context, r: pd.DataFrame, inc: np.ndarray, base: np.ndarray) -> Finding | None:
        fails = r["gpu_alloc_failures"].to_numpy(dtype=float) > 0
        full = r["gpu_memory_share"].to_numpy(dtype=float) >= self.t.memory_full
        flag = fails | np.nan_to_num(full, nan=0).astype(bool)
        test = self._rate_finding(ctx, flag, inc, base)
        share = ctx.excess_share(flag & inc)
        if test is None or share < self.t.min_share:
            return None
        lo, hi = self._window(ctx)
        procs = _sql.run(ctx.tel.con, "detectors/gpu_processes", lo_ns=lo, hi_ns=hi)
        holder = procs.dropna(subset=["memory_bytes"]).head(1)
        who = (f"pid {holder['pid'].iloc[0]} ({holder['name'].iloc[0] or '?'}, {holder['consumer'].iloc[0] or '?'}) "
               f"holds {float(holder['memory_bytes'].iloc[0]) / 2**30:.1f} GiB") if len(holder) else ""
        mem_i = float(np.nanmax(r["gpu_memory_share"].to_numpy(dtype=float)[inc])) if inc.any() else float("nan")
        change = f"{int(fails[inc].sum())} requests saw allocation failures, memory {mem_i:.0%} full" + (
            f"; {who}" if who else "")
        cause = Cause(Category.GPU_MEMORY_PRESSURE, f"gpu memory{' (' + who.split(' holds')[0] + ')' if who else ''}",
                      "gpu", change, f"GPU memory pressure: {change}", "gpu_memory", flag & inc, share, test)
        return finding(ctx, cause, evidence=[
            Evidence("requests_with_allocation_failures_share", round(float(fails[inc].mean()), 3),
                     round(float(fails[base].mean()), 3), ctx.exemplars(flag & inc)),
            Evidence("gpu_memory_used_share_max", round(mem_i, 3), None),
            Evidence("gpu_processes", procs.head(5).to_dict("records"), None)],
            remediation=["Free the memory (the process named holds it), lower max batch / sequence length / KV "
                         "cache, or give the model a card of its own."],
            chain=["GPU memory full", "allocations fail and retry", "P99"])

    def _contention(self, ctx: Context, r: pd.DataFrame, inc: np.ndarray, base: np.ndarray) -> Finding | None:
        other = r["gpu_other_util"].to_numpy(dtype=float)
        util = r["gpu_util"].to_numpy(dtype=float)
        crowded = np.nan_to_num(other, nan=0.0) >= self.t.other_util
        capped = r["gpu_clock_reasons"].astype(str).str.contains("sw_power_cap").to_numpy()
        busy = (np.nan_to_num(util, nan=0.0) >= self.t.busy_util) | (capped & (np.nan_to_num(util, nan=0.0)
                                                                             >= 0.8 * self.t.busy_util))
        flag, co = (crowded, True) if crowded[inc].mean() > crowded[base].mean() else (busy, False)
        test = self._rate_finding(ctx, flag, inc, base)
        share = ctx.excess_share(flag & inc)
        if test is None or share < self.t.min_share:
            return None
        lo, hi = self._window(ctx)
        procs = _sql.run(ctx.tel.con, "detectors/gpu_processes", lo_ns=lo, hi_ns=hi)
        others = procs[procs["consumer"].astype(str) == "other"].sort_values("utilization", ascending=False)
        named = ", ".join(f"pid {p.pid} ({p.name or '?'}, {float(p.utilization or 0):.0%} of the GPU)"
                          for p in others.head(3).itertuples()) if len(others) else ""
        mw = mann_whitney(np.nan_to_num(other[inc]), np.nan_to_num(other[base]))
        if co:
            change = (f"other processes used {float(np.nanmean(other[inc])):.0%} of the GPU during the requests "
                      f"(baseline {float(np.nanmean(other[base])):.0%})" + (f": {named}" if named else ""))
        else:
            change = f"utilisation >= {self.t.busy_util:.0%} during {float(busy[inc].mean()):.0%} of the requests"
        cause = Cause(Category.GPU_SATURATION, f"gpu ({named.split(',')[0]})" if named and co else "gpu", "gpu",
                      change, f"GPU contended: {change}", "gpu_contention", flag & inc, share, test)
        ev = [Evidence("requests_in_that_gpu_state_share", round(float(flag[inc].mean()), 3),
                       round(float(flag[base].mean()), 3), ctx.exemplars(flag & inc)),
              Evidence("gpu_utilization_during_requests", round(float(np.nanmean(util[inc])), 3),
                       round(float(np.nanmean(util[base])), 3))]
        if mw is not None:
            ev.append(Evidence("other_processes_share_mann_whitney_p_value", mw.p_value, None))
        if len(others):
            ev.append(Evidence("other_gpu_processes", others.head(5).to_dict("records"), None))
        return finding(ctx, cause, evidence=ev, remediation=[
            "Move the co-located job off this GPU (or schedule it off-peak; MIG / MPS limits), or add replicas."
            if co else "Add replicas or a bigger card; batch requests; cap concurrency so the queue does not grow."],
            chain=["GPU shared with another process" if co else "GPU saturated", "slower GPU work per request", "P99"])

    def _throttled(self, ctx: Context, r: pd.DataFrame, inc: np.ndarray, base: np.ndarray) -> Finding | None:
        thr = as_bool(r["gpu_throttled"])
        # the software power cap at full load is how a saturated card behaves (it draws its power
        # limit): saturation, not throttling by a cause of its own (thermal, power brake, HW slowdown)
        reasons = r["gpu_clock_reasons"].astype(str).fillna("")
        only_cap = reasons.str.contains("sw_power_cap").to_numpy() & ~reasons.str.contains(
            "thermal|hw_slowdown|power_brake").to_numpy()
        near_full = np.nan_to_num(r["gpu_util"].to_numpy(dtype=float), nan=1.0) >= self.t.busy_util * 0.8
        thr = thr & ~(only_cap & near_full)
        test = self._rate_finding(ctx, thr, inc, base)
        share = ctx.excess_share(thr & inc)
        if test is None or share < self.t.min_share:
            return None
        cause = Cause(Category.GPU_THROTTLING, "gpu", "gpu",
                      f"clocks throttled during {float(thr[inc].mean()):.0%} of the requests "
                      f"(baseline {float(thr[base].mean()):.0%})",
                      "GPU clocks throttled while requests ran", "gpu_throttle", thr & inc, share, test)
        return finding(ctx, cause, evidence=[
            Evidence("requests_while_throttled_share", round(float(thr[inc].mean()), 3), round(float(thr[base].mean()), 3),
                     ctx.exemplars(thr & inc))],
            remediation=["Check cooling and power limits (nvidia-smi -q -d PERFORMANCE); the clock-event reasons "
                         "(docs/gpu.md) name power cap vs thermal vs hardware slowdown."],
            chain=["GPU clocks throttled", "slower GPU work per request", "P99"])


DETECTOR = GpuRequestDetector()

__all__ = ["DETECTOR", "GpuRequestDetector", "Thresholds", "has_request_gpu"]
