"""pool_saturation: requests waiting longer for a pooled connection than in the baseline.

From ``_decompose``: the time in acquire spans (spans that declare their pool), per pool. The
finding states the pool's size and its peak concurrent waiters in the incident (the flat top:
every connection busy, the queue grows), timeouts, and wait percentiles before and after.
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
    min_share: float = 0.1
    min_rose_share: float = 0.05
    max_p_value: float = 0.01
    #: a wait shorter than this is an acquisition, not a wait
    min_wait_ms: float = 1.0


T = Thresholds()


def _peak_waiters(w: pd.DataFrame) -> int:
    if w.empty:
        return 0
    t = np.concatenate([w["start_ns"].to_numpy(), w["end_ns"].to_numpy()])
    d = np.concatenate([np.ones(len(w)), -np.ones(len(w))])
    order = np.lexsort((d, t))
    return int(np.cumsum(d[order]).max())


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
        waits = _sql.table(ctx.tel.con, "f_pool_waits")
        waits = waits[waits["pool"] == ch.entity]
        inc, lo_hi = ctx.incident, ctx.incident.baseline_ns or (0, 0)
        w_inc = waits[(waits["start_ns"] >= (inc.onset_ns or 0)) & (waits["start_ns"] < (inc.end_ns or ctx.tel.until_ns))]
        w_base = waits[(waits["start_ns"] >= lo_hi[0]) & (waits["start_ns"] < lo_hi[1])]
        size = w_inc["pool_size"].dropna()
        size_txt = f" (size {int(size.max())})" if len(size) else ""
        peak = _peak_waiters(w_inc[w_inc["wait_ms"] >= self.t.min_wait_ms])
        timeouts = int(w_inc["timed_out"].astype("boolean").fillna(False).sum())

        def p95(w: pd.DataFrame) -> float | None:
            return round(float(w["wait_ms"].quantile(0.95)), 2) if len(w) else None

        cause = Cause(Category.POOL_SATURATION, ch.entity, "pool",
                      f"acquire wait p95 {p95(w_base)} -> {p95(w_inc)} ms, {timeouts} timeouts, up to {peak} waiters"
                      f"{size_txt}",
                      f"Connection pool '{ch.entity}'{size_txt} saturated: waits {ch.baseline_ms:.1f} -> "
                      f"{ch.incident_ms:.1f} ms per request, {ch.share:.0%} of the P99 excess",
                      ch.part, active, ch.share, ch.evidence(self.t.max_p_value), support=min(1.0, ch.rose_share / 0.3))
        evidence = [
            Evidence("pool_wait_ms_per_affected_request", round(ch.incident_ms, 2), round(ch.baseline_ms, 2),
                     ctx.exemplars(active)),
            Evidence("pool_wait_p95_ms", p95(w_inc), p95(w_base)),
            Evidence("pool_timeouts", timeouts, int(w_base["timed_out"].astype("boolean").fillna(False).sum())),
            Evidence("peak_concurrent_waiters", peak, _peak_waiters(w_base[w_base["wait_ms"] >= self.t.min_wait_ms])),
        ]
        if len(size):
            evidence.append(Evidence("pool_size", int(size.max()), None))
        return finding(ctx, cause, evidence=evidence, counterfactual_ms=np.clip(col - ch.baseline_ms, 0, None),
                       remediation=["Do not hold a pooled connection across slow calls (release before the "
                                    "downstream call); size the pool to peak concurrency; add an acquire timeout "
                                    "with a clear error."],
                       chain=[f"pool {ch.entity}", "requests queue for a connection", "P99"])


DETECTOR = PoolDetector()

__all__ = ["DETECTOR", "PoolDetector", "Thresholds"]
