"""Service by service: where failures start, and whose own time rose (multi-service data).

From ``f_operations`` (every SERVER span with its own time and whether a failure started in the
service while it ran): per service, its calls in the incident against its calls in the baseline.
A service in which more failures *start* (not one that passed a callee's on) is a
``code_defect``; a traced downstream service whose spans' own time rose is ``slow_downstream``
(an entry service's: ``cpu_contention``). This sees what the entry requests do not: a callee that
fails while its callers retry, degrade or answer 200 with an error logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis._stats import Test, as_bool, mann_whitney, rate_increase
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    max_p_value: float = 0.01
    #: without an incident (leads, capped below medium) the evidence may be weaker
    lead_p_value: float = 0.1
    min_failures: int = 3
    min_rise: float = 0.03
    #: own time per call that rose this much, by this much
    min_self_ratio: float = 1.3
    min_self_delta_ms: float = 2.0
    min_calls: int = 5


T = Thresholds()


class ServiceDetector:
    name = "services"
    categories = (Category.CODE_DEFECT, Category.SLOW_DOWNSTREAM, Category.CPU_CONTENTION)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        ops = ctx.operations()
        inc = ctx.incident
        if ops.empty or inc.onset_ns is None or inc.baseline_ns is None:
            return []
        start = ops["start_ns"].to_numpy(dtype=np.int64)
        in_i = (start >= inc.onset_ns) & (start < (inc.end_ns or ctx.tel.until_ns))
        in_b = (start >= inc.baseline_ns[0]) & (start < inc.baseline_ns[1])
        entry = set(ctx.requests["service"].astype(str).unique())
        out: list[Finding] = []
        svc = ops["service"].astype(str).to_numpy()
        for service in pd.unique(svc[in_i]):
            on = svc == service
            f = self._failures(ctx, ops, service, on & in_i, on & in_b)
            if f is not None:
                out.append(f)
            f = self._own_time(ctx, ops, service, on & in_i, on & in_b, entry=service in entry)
            if f is not None:
                out.append(f)
        return out

    def _p(self, ctx: Context) -> float:
        return self.t.max_p_value if ctx.found else self.t.lead_p_value

    def _window_requests(self, ctx: Context, ops: pd.DataFrame, sel: np.ndarray) -> np.ndarray:
        """Entry requests whose traces hold the selected calls (the cause's active requests)."""
        if "tkey" not in ops or not sel.any():
            return np.zeros(len(ctx.requests), dtype=bool)
        keys = np.unique(ops.loc[sel, "tkey"].to_numpy())
        return np.isin(ctx.requests["tkey"].to_numpy(), keys)

    def _failures(self, ctx: Context, ops: pd.DataFrame, service: str, a: np.ndarray,
                  b: np.ndarray) -> Finding | None:
        own = as_bool(ops["own_failed"])
        k_a, n_a, k_b, n_b = int((own & a).sum()), int(a.sum()), int((own & b).sum()), int(b.sum())
        test = rate_increase(k_a, n_a, k_b, n_b, min_n=self.t.min_calls)
        if test is None or k_a < self.t.min_failures or test.p_value > self._p(ctx):
            return None
        r_a, r_b = k_a / n_a, k_b / max(1, n_b)
        if r_a - r_b < self.t.min_rise:
            return None
        ops_here = ops.loc[own & a, "operation"].astype(str)
        operation = str(ops_here.mode().iloc[0]) if len(ops_here) else ""
        active = self._window_requests(ctx, ops, own & a)
        # how much of the window's failing requests this service's failures account for
        failing = ctx.inc & ctx.requests["is_error"].to_numpy(dtype=bool)
        share = float((active & failing).sum() / max(1, failing.sum())) if failing.any() else 0.5 * test.effect
        cause = Cause(Category.CODE_DEFECT, service, "code",
                      f"failures that start in it {r_b:.1%} -> {r_a:.1%} of its calls ({operation})",
                      f"Failures start in '{service}' {operation}: {k_b} of {n_b} calls in the baseline, "
                      f"{k_a} of {n_a} now", "errors", active, share, test,
                      support=min(1.0, k_a / 10.0), service=service)
        return finding(ctx, cause, counterfactual_ms=np.zeros(len(ctx.requests)), evidence=[
            Evidence("own_failure_ratio", round(r_a, 4), round(r_b, 4), ctx.exemplars(active)),
            Evidence("own_failures", k_a, k_b)],
            remediation=[f"Look at the exceptions logged by '{service}' ({operation}) and what changed in it around "
                         "the onset; roll a recent deploy back."],
            chain=[f"{service} {operation}", "exceptions", "callers fail or degrade"])

    def _own_time(self, ctx: Context, ops: pd.DataFrame, service: str, a: np.ndarray, b: np.ndarray, *,
                  entry: bool) -> Finding | None:
        t = self.t
        ok = ~as_bool(ops["failed"])
        own = ops["self_ms"].to_numpy(dtype=float)
        a, b = a & ok, b & ok
        if a.sum() < t.min_calls or b.sum() < t.min_calls:
            return None
        ma, mb = float(np.median(own[a])), float(np.median(own[b]))
        test = mann_whitney(own[a], own[b])
        if test is None or test.p_value > self._p(ctx) or ma < t.min_self_ratio * mb or ma - mb < t.min_self_delta_ms:
            return None
        active = self._window_requests(ctx, ops, a & (own > np.quantile(own[b], 0.9)))
        share = ctx.excess_share(active) if ctx.total_excess > 0 else 0.5 * test.effect
        category = Category.CPU_CONTENTION if entry else Category.SLOW_DOWNSTREAM
        what = "its own code" if entry else "its own time per call"
        cause = Cause(category, service, "service" if entry else "dependency",
                      f"{what} {mb:.1f} -> {ma:.1f} ms (median of {int(a.sum())} calls)",
                      f"'{service}' got slower in {what}: {mb:.1f} -> {ma:.1f} ms per call", f"self:{service}",
                      active, share, Test(test.name, test.p_value, test.effect, test.n_a, test.n_b),
                      support=min(1.0, int(a.sum()) / 30.0), service=service)
        return finding(ctx, cause, evidence=[
            Evidence("own_ms_per_call_median", round(ma, 2), round(mb, 2), ctx.exemplars(active)),
            Evidence("calls", int(a.sum()), int(b.sum()))],
            remediation=[f"Profile '{service}' over the slow period (its own code, its host's CPU, GC); compare "
                         "with the baseline."],
            chain=[f"service {service}", "own time per call", "callers' latency"])


DETECTOR = ServiceDetector()

__all__ = ["DETECTOR", "ServiceDetector", "Thresholds"]
