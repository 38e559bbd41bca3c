"""cold_start: a new instance (deploy, restart, scale-out) whose first requests are slow.

Only instances whose first request falls in the incident count (a process that started with
the data is its warm-up, not an incident); their first minute of requests is contrasted with
the baseline and must carry a material share of the excess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    warmup_ns: int = 60_000_000_000
    min_requests: int = 3
    min_share: float = 0.1
    max_p_value: float = 0.01


T = Thresholds()


class ColdStartDetector:
    name = "cold_start"
    categories = (Category.COLD_START,)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        inc = ctx.incident
        if inc.onset_ns is None:
            return []
        r = ctx.requests
        first = r.groupby("instance", observed=True)["start_ns"].min()
        end = inc.end_ns or ctx.tel.until_ns
        new = first[(first >= (inc.baseline_ns or (inc.onset_ns, 0))[0]) & (first >= inc.onset_ns - ctx.step_ns)
                    & (first < end) & (first > int(r["start_ns"].min()) + self.t.warmup_ns // 6)]
        if new.empty:
            return []
        inst = r["instance"].astype(str).to_numpy()
        start = r["start_ns"].to_numpy()
        early = np.zeros(len(r), dtype=bool)
        for name, t0 in new.items():
            early |= (inst == str(name)) & (start >= t0) & (start < t0 + self.t.warmup_ns)
        early &= ctx.inc
        if early.sum() < self.t.min_requests:
            return []
        test = ctx.contrast(early)
        share = ctx.excess_share(early)
        if test is None or test.p_value > self.t.max_p_value or test.effect <= 0 or share < self.t.min_share:
            return []
        name = str(new.index[0])
        cause = Cause(Category.COLD_START, name, "deploy", f"{len(new)} new instance(s) started in the incident",
                      f"New instance {name}: its first minute of requests is slow "
                      f"(P99 {ctx.p99(early):.0f} ms vs baseline {ctx.baseline_p99:.0f} ms)",
                      "cold_start", early, share, test, start_ns=int(new.min()),
                      end_ns=int(new.max()) + self.t.warmup_ns)
        return [finding(ctx, cause, evidence=[
            Evidence("p99_first_minute_ms", round(ctx.p99(early), 1), round(ctx.baseline_p99, 1), ctx.exemplars(early)),
            Evidence("new_instances", int(len(new)), None)],
            remediation=["Warm up before taking traffic (load the model, prime caches, compile kernels) and gate "
                         "readiness on it."],
            chain=[f"instance {name} started", "cold caches / lazy loading", "P99"])]


DETECTOR = ColdStartDetector()

__all__ = ["ColdStartDetector", "DETECTOR", "Thresholds"]
