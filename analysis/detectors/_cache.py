"""cache_miss_storm, cache_stampede and cold_start: a cache stops absorbing load.

Per cache: the hit ratio per step against its usual (median) ratio; storm steps are those well
below it. Requests that missed are contrasted with the rest (Mann-Whitney U) and the excess
they carry is capped by their miss-path time; the storm's time is contrasted with the rest too
(the loads take shared capacity, so requests that hit slow down as well) and the stronger
reading is kept. A storm is a *stampede* when requests *load* a key that another request is
already loading (no single-flight: a waiter of a single-flight load does no work of its own),
typically at synchronised TTL expiry; it is a *cold start* when it begins with a new instance (deploy, restart).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso

STORM_DROP = 0.25
USUAL_Q = 0.8
MIN_STORM_STEPS = 3
#: share of the storm's loads that reload a key another request is already loading: with
#: single-flight it is 0 (waiters do no work), so a tenth of the loads is no single-flight
STAMPEDE_DUP_SHARE = 0.1
MIN_DUP_LOADS = 2
COLD_START_NS = 60_000_000_000


def detect(ctx: Context) -> list[Finding]:
    # hit ratios need a few lookups per step: at least 1/20 of the window (and the P99 step)
    step = max(ctx.step_ns, (ctx.tel.until_ns - ctx.tel.since_ns) // 20)
    windows = _sql.run(ctx.tel.con, "detectors/cache_windows", step_ns=step)
    if windows.empty:
        return []
    dups = _sql.run(ctx.tel.con, "detectors/cache_duplicate_misses", step_ns=step)
    summary = _sql.run(ctx.tel.con, "detectors/cache_summary").set_index("cache")
    out = []
    for cache, w in windows.groupby("cache"):
        f = _one(ctx, str(cache), w, dups[dups["cache"] == cache], summary.loc[cache], step)
        if f is not None:
            out.append(f)
    return out


def _one(ctx: Context, cache: str, w: pd.DataFrame, dups: pd.DataFrame, summary: pd.Series,
         step: int) -> Finding | None:
    # the healthy ratio: a fault may cover most of the window, so not the median but a high quantile
    usual = float(w.loc[w["lookups"] >= 3, "hit_ratio"].quantile(USUAL_Q)) if (w["lookups"] >= 3).any() else 1.0
    low = (w["hit_ratio"] < usual - STORM_DROP) & (w["lookups"] >= 5)
    if int(low.sum()) < MIN_STORM_STEPS:
        return None  # misses at the usual rate (or one unlucky step) are the cache working as designed
    # a step in which two requests loaded the same key at once is part of the storm even when
    # other keys' hits keep its ratio up (the duplicate loads are the damage of a stampede)
    raced = w["ts_ns"].isin(dups.loc[dups["duplicate_loads"] > 0, "ts_ns"])
    storm = w[low | raced]
    miss_ms = ctx.parts().get(f"cache_miss:{cache}")
    if miss_ms is None:
        return None
    in_storm = np.isin((ctx.requests["start_ns"].to_numpy() // step) * step, storm["ts_ns"].to_numpy())
    missed = (miss_ms > 0) & in_storm
    if missed.sum() < 3:
        return None
    hit_ms = float(summary["hit_p50_ms"]) if pd.notna(summary["hit_p50_ms"]) else 0.0
    share = ctx.excess_share(missed, attributable_ms=np.clip(miss_ms - hit_ms, 0, None))
    p_value, effect = ctx.contrast(missed)
    # the loads a storm triggers also take shared capacity (the model, CPU, the pool), so every
    # request in the storm can slow down, not only those that missed: contrast the storm's time
    # with the rest too, and keep the stronger of the two readings
    t_p, t_effect = ctx.contrast(in_storm)
    t_share = ctx.excess_share(in_storm)
    hurt = missed
    if confidence(t_p, t_share, t_effect) > confidence(p_value, share, effect):
        p_value, effect, share, hurt = t_p, t_effect, t_share, in_storm
    if share <= 0 or effect <= 0:
        return None
    in_dups = dups[dups["ts_ns"].isin(storm["ts_ns"])]
    n_loads = int(in_dups["loads"].sum())
    dup_n = int(in_dups["duplicate_loads"].sum())
    dup_share = dup_n / max(1, n_loads)
    # duplicate loads concentrated in the storm (not a background rate of racing loads)
    out_dups = dups[~dups["ts_ns"].isin(storm["ts_ns"])]
    out_rate = int(out_dups["duplicate_loads"].sum()) / max(1, int(out_dups["loads"].sum()))
    stampede = dup_n >= MIN_DUP_LOADS and dup_share >= STAMPEDE_DUP_SHARE
    storm_ratio = float(storm["hit_ratio"].mean())
    # a short dip is weaker evidence than a sustained drop
    support = min(1.0, len(storm) / 5.0) * ctx.materiality(hurt)
    start_ns = int(storm["ts_ns"].min())
    end_ns = int(storm["ts_ns"].max() + step)
    category, kind, change = "cache_miss_storm", "cache", f"hit ratio {usual:.0%} -> {storm_ratio:.0%}"
    if stampede:
        category, change = "cache_stampede", (f"{dup_share:.0%} of misses reload a key already loading "
                                              f"(no single-flight), hit ratio {usual:.0%} -> {storm_ratio:.0%}")
    elif _new_instance_at(ctx, start_ns):
        category, kind, change = "cold_start", "deploy", f"new instance starts with an empty cache ({change})"
    evidence = [
        Evidence("hit_ratio", round(storm_ratio, 3), round(usual, 3)),
        Evidence("miss_path_ms", round(float(summary["miss_p50_ms"]), 2), round(hit_ms, 2),
                 ctx.exemplars(missed)),
        Evidence("p99_requests_that_missed_ms", round(ctx.p99(missed), 1), round(ctx.p99(~missed), 1)),
        Evidence("p99_during_storm_ms", round(ctx.p99(in_storm), 1), round(ctx.p99(~in_storm), 1)),
        Evidence("concurrent_duplicate_loads", dup_n, round(out_rate * n_loads, 2)),
        Evidence("mann_whitney_p_value", p_value, None),
    ]
    if len(in_dups) and in_dups["max_keys_per_second"].notna().any():
        evidence.append(Evidence("max_distinct_keys_missing_per_second", int(in_dups["max_keys_per_second"].max()),
                                 float(dups["max_keys_per_second"].median())))
    remediation = {
        "cache_stampede": ["Single-flight the loader (one request recomputes, the others wait for it).",
                           "Jitter TTLs so hot keys do not expire together; refresh ahead of expiry."],
        "cold_start": ["Warm the cache before taking traffic (readiness gate); roll out gradually."],
        "cache_miss_storm": ["Restore the cache size / TTL; check for flushes or key changes in the deploy.",
                             "Protect the miss path (rate-limit loads, serve stale while revalidating)."],
    }[category]
    return Finding(
        category=category,
        title=f"Cache '{cache}': {change}; misses explain {share:.0%} of the P99 excess",
        root_cause=RootCause(entity=cache, kind=kind, state_change=change, start=iso(start_ns), end=iso(end_ns)),
        symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.baseline_p99, 1),
                        observed=round(ctx.observed_p99, 1)),
        impact=Impact(share_of_requests=float(missed.mean()), window=ctx.window),
        effect_size=round(effect, 3), confidence=confidence(p_value, share, effect, support=support),
        evidence=evidence,
        counterfactual={"sli_if_fixed": round(ctx.p99(~missed), 1), "p99_excess_removed_share": round(share, 3)},
        remediation=remediation, chain=[f"cache {cache}", "misses", "miss-path latency", "P99"],
        excess_share=share, plot={"active": in_storm, "step_ns": step, "dup_share": dup_share, "cache": cache, "hit_ratio": w[["ts_ns", "hit_ratio"]].to_dict("list")},
    )


def _new_instance_at(ctx: Context, start_ns: int) -> bool:
    """A service instance whose first request is within COLD_START_NS of the storm's start, and
    that started after the window began (a deploy/restart seen in the data, not just its start)."""
    early = _sql.run(ctx.tel.con, "detectors/cold_start_requests", warmup_ns=COLD_START_NS)
    return bool(((early["first_ns"] - start_ns).abs() <= COLD_START_NS).any())
