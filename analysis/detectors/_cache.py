"""cache_miss_storm and cache_stampede: a cache stopped absorbing load.

Per cache: the miss ratio in the incident against the baseline (Fisher's exact test), and the
time requests spent on miss paths (lookup to loaded, the loader included) against the baseline.
A storm is a *stampede* when requests *load* a key another request is already loading (no
single-flight: a waiter of a single-flight load does no work of its own) - counted directly,
so a stampede is found even when other keys' hits keep the hit ratio up.
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
from infersight.analysis._stats import rate_increase
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    min_share: float = 0.1
    max_p_value: float = 0.01
    #: a miss ratio this many points above the baseline is a storm
    min_miss_rise: float = 0.1
    #: duplicate loads: at least this many, and this share of the incident's loads
    min_dup_loads: int = 3
    dup_share: float = 0.1
    #: a new instance whose first request is this close to the storm makes it a cold start
    cold_start_ns: int = 60_000_000_000


T = Thresholds()


class CacheDetector:
    name = "cache"
    categories = (Category.CACHE_STAMPEDE, Category.CACHE_MISS_STORM)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        inc = ctx.incident
        if inc.onset_ns is None or inc.baseline_ns is None:
            return []
        # per-cache counts computed in the engine: only one row per cache leaves it
        change = _sql.run(ctx.tel.con, "detectors/cache_change", lo_ns=inc.onset_ns, hi_ns=inc.end_ns or ctx.tel.until_ns,
                          base_lo_ns=inc.baseline_ns[0], base_hi_ns=inc.baseline_ns[1])
        change = change[change["lookups"] >= 5]
        if change.empty:
            return []
        dups = _sql.run(ctx.tel.con, "detectors/cache_duplicate_misses", step_ns=ctx.step_ns)
        out = []
        for row in change.itertuples(index=False):
            f = self._one(ctx, str(row.cache), row, dups[dups["cache"] == row.cache])
            if f is not None:
                out.append(f)
        return out

    def _window(self, ctx: Context, df: pd.DataFrame, col: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        inc = ctx.incident
        lo, hi = inc.onset_ns or 0, inc.end_ns or ctx.tel.until_ns
        blo, bhi = inc.baseline_ns or (0, 0)
        t = df[col]
        return df[(t >= lo) & (t < hi)], df[(t >= blo) & (t < bhi)]

    def _one(self, ctx: Context, cache: str, counts: Any, dups: pd.DataFrame) -> Finding | None:
        t = self.t
        n_i, n_b = int(counts.lookups), int(counts.base_lookups)
        miss_i, miss_b = int(counts.misses), int(counts.base_misses)
        ratio_i = miss_i / max(1, n_i)
        ratio_b = miss_b / n_b if n_b else 0.0
        test = rate_increase(miss_i, n_i, miss_b, n_b)
        d_inc, d_base = self._window(ctx, dups, "ts_ns")
        dup_n, loads = int(d_inc["duplicate_loads"].sum()), int(d_inc["loads"].sum())
        dup_base = int(d_base["duplicate_loads"].sum())
        stampede = dup_n >= t.min_dup_loads and dup_n / max(1, loads) >= t.dup_share and dup_n > 2 * dup_base
        storm = test is not None and test.p_value <= t.max_p_value and ratio_i - ratio_b >= t.min_miss_rise
        if not (stampede or storm):
            return None
        share, active, rise = self._explained(ctx, cache)
        if share < t.min_share:
            return None
        start = int(counts.first_miss_ns) if miss_i and counts.first_miss_ns == counts.first_miss_ns else None
        category, kind = Category.CACHE_MISS_STORM, "cache"
        change = f"miss ratio {ratio_b:.0%} -> {ratio_i:.0%}"
        if stampede:
            category = Category.CACHE_STAMPEDE
            change = (f"{dup_n} loads of a key another request was already loading (no single-flight), "
                      f"{change}")
        elif start is not None and self._new_instance_near(ctx, start):
            kind, change = "deploy", f"a new instance started with an empty cache ({change})"
        evidence = [
            Evidence("miss_ratio", round(ratio_i, 3), round(ratio_b, 3), ctx.exemplars(active)),
            Evidence("concurrent_duplicate_loads", dup_n, dup_base),
            Evidence("loads_in_incident", loads, None),
            Evidence("share_of_p99_excess", round(share, 3), None),
        ]
        if len(d_inc) and d_inc["max_keys_per_second"].notna().any():
            evidence.append(Evidence("max_distinct_keys_missing_per_second", int(d_inc["max_keys_per_second"].max()),
                                     float(d_base["max_keys_per_second"].max()) if len(d_base) else None))
        remediation = {
            Category.CACHE_STAMPEDE: ["Single-flight the loader (one request recomputes, the others wait for it).",
                                      "Jitter TTLs so hot keys do not expire together; refresh ahead of expiry."],
            Category.CACHE_MISS_STORM: ["Restore the cache size / TTL; check for flushes or key changes in a deploy; "
                                        "warm the cache before taking traffic.",
                                        "Protect the miss path (rate-limit loads, serve stale while revalidating)."],
        }[category]
        support = 1.0 if (stampede and storm) or (storm and test and test.effect > 0.2) else 0.75
        cause = Cause(category, cache, kind, change,
                      f"Cache '{cache}': {change}; miss paths explain {share:.0%} of the P99 excess",
                      f"cache:{cache}", active, share, test, support=support, start_ns=start)
        return finding(ctx, cause, evidence=evidence, remediation=remediation, counterfactual_ms=rise,
                       chain=[f"cache {cache}", "misses", "miss-path latency", "P99"])

    def _explained(self, ctx: Context, cache: str) -> tuple[float, np.ndarray, np.ndarray]:
        """Share of the excess covered by the rise of miss-path time, the requests it rose in, the rise."""
        dec = ctx.parts()
        n = len(ctx.requests)
        if cache not in dec.miss_incl:
            return 0.0, np.zeros(n, dtype=bool), np.zeros(n)
        col = np.zeros(n)
        col[dec.pos] = dec.miss_incl[cache].to_numpy()
        sampled = dec.sampled(n)
        base = sampled & ctx.base
        mu = float(col[base].mean()) if base.any() else 0.0
        rise = np.clip(col - mu, 0, None)
        aff = sampled & ctx.affected()
        excess = ctx.requests["excess_ms"].to_numpy()
        denom = float(excess[aff].sum())
        share = float(np.minimum(rise[aff], excess[aff]).sum() / denom) if denom > 0 else 0.0
        return share, aff & (rise > 1.0), rise

    def _new_instance_near(self, ctx: Context, start_ns: int) -> bool:
        r = ctx.requests
        first = r.groupby("instance", observed=True)["start_ns"].min()
        later = first[first > int(r["start_ns"].min()) + self.t.cold_start_ns]
        return bool(((later - start_ns).abs() <= self.t.cold_start_ns).any())


DETECTOR = CacheDetector()

__all__ = ["CacheDetector", "DETECTOR", "Thresholds"]
