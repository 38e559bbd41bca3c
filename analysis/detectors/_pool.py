"""pool_saturation: requests waiting longer for a pooled connection than in the baseline.

From ``_decompose``: the time in acquire spans (spans that declare their pool), per pool. The
finding states the pool's size and its peak concurrent waiters in the incident (the flat top:
every connection busy, the queue grows), timeouts, and wait percentiles before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    min_share: float = 0.1
    min_rose_share: float = 0.05
    max_p_value: float = 0.01
    #: a wait shorter than this is an acquisition, not a wait
    min_wait_ms: float = 1.0


T = Thresholds()


class PoolDetector:
    name = "pool_saturation"
    categories = (Category.POOL_SATURATION,)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        dec = ctx.parts()
        out = []
        for ch in dec.changes:
            if ch.role != "pool" or ch.share < self.t.min_share or ch.rose_share < self.t.min_rose_share:
                continue
            if ch.evidence(self.t.max_p_value) is None:
                continue
            out.append(self._finding(ctx, dec, ch))
        return out

    def _finding(self, ctx: Context, dec: object, ch: object) -> Finding:
        from infersight.analysis._decompose import Decomposition, PartChange

        assert isinstance(dec, Decomposition) and isinstance(ch, PartChange)
        n = len(ctx.requests)
        col = dec.column(ch.part, n)
        active = dec.sampled(n) & ctx.inc & (col > ch.baseline_ms + self.t.min_wait_ms)
        inc, lo_hi = ctx.incident, ctx.incident.baseline_ns or (0, 0)
        stats = _sql.run(ctx.tel.con, "detectors/pool_change", lo_ns=inc.onset_ns or 0,
                         hi_ns=inc.end_ns or ctx.tel.until_ns, base_lo_ns=lo_hi[0], base_hi_ns=lo_hi[1],
                         min_wait_ms=self.t.min_wait_ms)
        stats = stats[stats["pool"] == ch.entity].set_index("side")

        def side(name: str, col: str) -> Any:
            if name not in stats.index:
                return None
            v = stats.at[name, col]
            return None if pd.isna(v) else v

        size = side("incident", "pool_size")
        in_use = side("incident", "peak_in_use")
        size_txt = (f" (size {int(size)}" + (f", {int(in_use)} in use at peak" if in_use is not None else "") + ")"
                    if size is not None else (f" ({int(in_use)} in use at peak)" if in_use is not None else ""))
        peak = int(side("incident", "peak_waiters") or 0)
        timeouts = int(side("incident", "timeouts") or 0)

        def p95(name: str) -> float | None:
            v = side(name, "wait_p95_ms")
            return None if v is None else round(float(v), 2)

        cause = Cause(Category.POOL_SATURATION, ch.entity, "pool",
                      f"acquire wait p95 {p95('baseline')} -> {p95('incident')} ms, {timeouts} timeouts, up to {peak} waiters"
                      f"{size_txt}",
                      f"Connection pool '{ch.entity}'{size_txt} saturated: waits {ch.baseline_ms:.1f} -> "
                      f"{ch.incident_ms:.1f} ms per request, {ch.share:.0%} of the P99 excess",
                      ch.part, active, ch.share, ch.evidence(self.t.max_p_value), support=min(1.0, ch.rose_share / 0.3))
        evidence = [
            Evidence("pool_wait_ms_per_affected_request", round(ch.incident_ms, 2), round(ch.baseline_ms, 2),
                     ctx.exemplars(active)),
            Evidence("pool_wait_p95_ms", p95("incident"), p95("baseline")),
            Evidence("pool_timeouts", timeouts, int(side("baseline", "timeouts") or 0)),
            Evidence("peak_concurrent_waiters", peak, int(side("baseline", "peak_waiters") or 0)),
        ]
        if size is not None:
            evidence.append(Evidence("pool_size", int(size), None))
        if in_use is not None:
            base_in_use = side("baseline", "peak_in_use")
            evidence.append(Evidence("peak_connections_in_use", int(in_use),
                                     None if base_in_use is None else int(base_in_use)))
        return finding(ctx, cause, evidence=evidence, counterfactual_ms=np.clip(col - ch.baseline_ms, 0, None),
                       remediation=["Do not hold a pooled connection across slow calls (release before the "
                                    "downstream call); size the pool to peak concurrency; add an acquire timeout "
                                    "with a clear error."],
                       chain=[f"pool {ch.entity}", "requests queue for a connection", "P99"])


DETECTOR = PoolDetector()

__all__ = ["DETECTOR", "PoolDetector", "Thresholds"]
