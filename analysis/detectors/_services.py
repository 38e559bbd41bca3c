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
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis._stats import Test, as_bool, binomial_excess, mann_whitney, rate_increase
from infersight.analysis.detectors._base import Cause, finding
from infersight.analysis.detectors._dependency import callee_mechanism


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
        if not ctx.found:
            return self._leads(ctx, ops, start, in_i, in_b, entry)
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
        gate = ctx.incident.scope.removeprefix("service ") if ctx.incident.scope.startswith("service ") else None
        if gate and not any(f.root_cause.entity == gate for f in out):
            # the gate found this service's own calls changed: name it even if no test here passes
            what = "errors" if ctx.incident.sli == "errors" else "slow"
            score = -float(np.log(max(ctx.incident.scan_p_value or 1.0, 1e-300)))
            out.extend(self._name(ctx, [(score, gate, what, ctx.incident.reason)], entry, prefix="Changed"))
        return out

    def _leads(self, ctx: Context, ops: pd.DataFrame, start: np.ndarray, in_i: np.ndarray, in_b: np.ndarray,
               entry: set[str]) -> list[Finding]:
        """No incident: rank the services by how much their own behaviour changed (failures that
        start in them, ERROR log records, their own time per call), strength of evidence counted,
        and name the strongest few as leads (the caller caps them below medium)."""
        inc, tel = ctx.incident, ctx.tel
        assert inc.onset_ns is not None and inc.baseline_ns is not None
        # a window the user chose is compared whole (the gate's candidate may be a stretch of it)
        lo, hi = (tel.since_ns, tel.until_ns) if tel.explicit_since else (inc.onset_ns, inc.end_ns or tel.until_ns)
        blo, bhi = tel.baseline_ns or inc.baseline_ns
        if tel.explicit_since and tel.baseline_ns is None:
            blo, bhi = max(tel.range_since_ns, lo - (hi - lo)), lo
        in_i = (start >= lo) & (start < hi)
        in_b = (start >= blo) & (start < bhi)
        t_i, t_b = max(1e-9, (hi - lo) / 1e9), max(1e-9, (bhi - blo) / 1e9)
        logs_i = _sql.run(ctx.tel.con, "detectors/error_logs", lo_ns=lo, hi_ns=hi)
        logs_b = _sql.run(ctx.tel.con, "detectors/error_logs", lo_ns=blo, hi_ns=bhi)
        li = dict(zip(logs_i["service"].astype(str), logs_i["records"], strict=True))
        lb = dict(zip(logs_b["service"].astype(str), logs_b["records"], strict=True))
        svc = ops["service"].astype(str).to_numpy()
        own = as_bool(ops["own_failed"])
        self_ms = ops["self_ms"].to_numpy(dtype=float)
        scored: list[tuple[float, str, str, str]] = []
        for service in set(pd.unique(svc)) | set(li):
            on = svc == service
            # errors: ERROR log records, or failures that start in it (the larger count: a failure
            # usually logs too), the window against the baseline given their lengths (a binomial
            # test on the events: how surprising it is that this many fell in the window)
            k_i = max(float(li.get(service, 0)), float((own & on & in_i).sum()))
            k_b = max(float(lb.get(service, 0)), float((own & on & in_b).sum()))
            err = 0.0
            if k_i > k_b * t_i / t_b:
                err = -float(np.log(max(binomial_excess(int(k_i), int(k_i + k_b), t_i / (t_i + t_b)), 1e-300)))
            a, b = on & in_i, on & in_b
            slow = 0.0
            if a.sum() >= 2 and b.sum() >= 2:
                ma, mb = float(np.median(self_ms[a])), float(np.median(self_ms[b]))
                test = mann_whitney(self_ms[a], self_ms[b], min_n=2)
                if ma - mb >= self.t.min_self_delta_ms and test is not None and test.effect > 0:
                    slow = -float(np.log(max(test.p_value, 1e-300)))
            if err >= slow and err > 0:
                scored.append((err, service, "errors", f"errors {k_b:.0f} -> {k_i:.0f} (logged or starting in it)"))
            elif slow > 0:
                scored.append((slow, service, "slow", f"own time per call {float(np.median(self_ms[b])):.1f} -> "
                                                        f"{float(np.median(self_ms[a])):.1f} ms"))
        scored.sort(reverse=True)
        return self._name(ctx, scored[:3], entry, prefix="Lead")

    def _name(self, ctx: Context, scored: list[tuple[float, str, str, str]], entry: set[str], *,
              prefix: str) -> list[Finding]:
        out = []
        top = scored[0][0] if scored else 1.0
        for score, service, what, text in scored:
            category = Category.CODE_DEFECT if what == "errors" else (
                Category.CPU_CONTENTION if service in entry else Category.SLOW_DOWNSTREAM)
            if category == Category.SLOW_DOWNSTREAM:  # a traced callee: does its CPU say why?
                found, why, _support, _ev = callee_mechanism(ctx, service, 0.0)
                if found is not None:
                    category, text = found, text + why
            share = float(min(1.0, score / max(top, 1e-9)) * 0.5)
            cause = Cause(category, service, "service", text, f"{prefix}: '{service}' changed most: {text}",
                          f"self:{service}", np.zeros(len(ctx.requests), dtype=bool), share,
                          Test("service_change_score", float(np.exp(-score)), min(1.0, score / 10.0), 0, 0),
                          support=0.5, service=service)
            out.append(finding(ctx, cause, evidence=[Evidence("service_change_score", round(score, 2), None)],
                               counterfactual_ms=np.zeros(len(ctx.requests)),
                               remediation=[f"Look at '{service}' around the onset: its logs, its own time per call."],
                               chain=[f"service {service}", text, "callers"]))
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
        why, support, mech_ev = "", 1.0, list[Evidence]()
        if not entry:  # a traced callee: its GC or CPU may say why its own time rose
            rise_total = float(np.clip(own[a] - float(np.mean(own[b])), 0, None).sum())
            found, why, support, mech_ev = callee_mechanism(ctx, service, rise_total)
            if found is not None:
                category = found
        cause = Cause(category, service, "service" if entry or category != Category.SLOW_DOWNSTREAM else "dependency",
                      f"{what} {mb:.1f} -> {ma:.1f} ms (median of {int(a.sum())} calls){why}",
                      f"'{service}' got slower in {what}: {mb:.1f} -> {ma:.1f} ms per call{why}", f"self:{service}",
                      active, share, Test(test.name, test.p_value, test.effect, test.n_a, test.n_b),
                      support=min(1.0, int(a.sum()) / 30.0) * support, service=service)
        return finding(ctx, cause, evidence=[
            Evidence("own_ms_per_call_median", round(ma, 2), round(mb, 2), ctx.exemplars(active)),
            Evidence("calls", int(a.sum()), int(b.sum())), *mech_ev],
            remediation=[f"Profile '{service}' over the slow period (its own code, its host's CPU, GC); compare "
                         "with the baseline."],
            chain=[f"service {service}", "own time per call", "callers' latency"])


DETECTOR = ServiceDetector()

__all__ = ["DETECTOR", "ServiceDetector", "Thresholds"]
