"""pool_saturation: requests waiting for a pooled connection.

A request's pool wait is the time in its acquire spans. The share of the P99 excess it explains
(excess capped by the wait), Mann-Whitney U for requests that waited vs not, timeouts, and the
peak number of concurrent waiters (the flat top: every connection busy, the queue grows).
"""

from __future__ import annotations

import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence, mechanisms
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso

MIN_WAIT_MS = 1.0


def detect(ctx: Context) -> list[Finding]:
    wait = mechanisms(ctx).get("pool")
    if wait is None:
        return []
    has = wait >= MIN_WAIT_MS
    if has.sum() < 3:
        return []
    share = ctx.excess_share(attributable_ms=wait)
    p_value, effect = ctx.contrast(has)
    if share <= 0 or effect <= 0:
        return []
    pools = _sql.run(ctx.tel.con, "detectors/pool_stats")
    top = pools.iloc[0]
    conf = confidence(p_value, share, effect, support=ctx.materiality(has))
    size = f" (size {int(top.pool_size)})" if pd.notna(top.pool_size) and top.pool_size else ""
    return [Finding(
        category="pool_saturation",
        title=f"Connection pool '{top.pool}'{size} saturated: waits explain {share:.0%} of the P99 excess",
        root_cause=RootCause(entity=str(top.pool), kind="pool",
                             state_change=f"acquire wait p95 {float(top.wait_p95_ms):.0f} ms, "
                                          f"{_int(top.timeouts)} timeouts, up to {_int(top.peak_waiters)} waiters",
                             start=iso(top.first_wait_ns) if pd.notna(top.first_wait_ns) else None,
                             end=iso(top.last_wait_ns) if pd.notna(top.last_wait_ns) else None),
        symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.baseline_p99, 1),
                        observed=round(ctx.observed_p99, 1)),
        impact=Impact(share_of_requests=float(has.mean()), window=ctx.window),
        effect_size=round(effect, 3), confidence=conf,
        evidence=[
            Evidence("pool_wait_ms_per_waiting_request", round(float(wait[has].mean()), 2), 0.0, ctx.exemplars(has)),
            Evidence("pool_wait_p95_ms", round(float(top.wait_p95_ms), 2), round(float(top.wait_p50_ms), 2)),
            Evidence("pool_timeouts", _int(top.timeouts), 0),
            Evidence("peak_concurrent_waiters", _int(top.peak_waiters), None),
            Evidence("mann_whitney_p_value", p_value, None),
        ],
        counterfactual={"sli_if_fixed": round(ctx.p99(~has), 1), "p99_excess_removed_share": round(share, 3)},
        remediation=["Do not hold a pooled connection across slow calls (release before the downstream "
                     "call); size the pool to peak concurrency; add an acquire timeout with a clear error."],
        chain=[f"pool {top.pool}", "requests queue for a connection", "P99"], excess_share=share,
        plot={"mechanism": "pool", "active": ctx.in_steps(has)},
    )]


def _int(v: object) -> int:
    return int(v) if pd.notna(v) else 0  # type: ignore[call-overload]
