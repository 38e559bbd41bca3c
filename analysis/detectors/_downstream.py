"""slow_downstream: a dependency whose calls got slower and carry the requests' excess.

Per peer, a request's extra time is its time in calls to the peer minus the peer's usual
per-request time (median over requests at or under the baseline P99). The share of the P99
excess explained is the excess capped by that extra time; Mann-Whitney U contrasts requests
with inflated calls; the critical path of the slowest traces shows the call on it; the
client-minus-server gap separates network/queueing from the peer's own time.
"""

from __future__ import annotations

import numpy as np
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence, mechanisms
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso


def detect(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    peers = _sql.run(ctx.tel.con, "detectors/downstream_peers")
    if peers.empty:
        return out
    info = peers.set_index("peer")
    slow = ctx.slow_mask()
    for name, arr in mechanisms(ctx).items():
        if not name.startswith("dependency:"):
            continue
        peer = name.split(":", 1)[1]
        normal = arr[~slow & (arr > 0)]
        if len(normal) < 5:
            continue
        # a fault may cover most of the window: the usual time is a low quantile, not the median
        usual = float(np.quantile(normal, 0.25))
        extra = np.clip(arr - usual, 0.0, None)
        inflated = arr > max(2.0 * usual, usual + 5.0)
        if inflated.sum() < 3:
            continue
        share = ctx.excess_share(attributable_ms=extra)
        p_value, effect = ctx.contrast(inflated)
        if share <= 0 or effect <= 0:
            continue
        row = info.loc[peer] if peer in info.index else None
        gap = float(row.mean_gap_ms) if row is not None and row.mean_gap_ms == row.mean_gap_ms else None
        hot = _sql.first_row(ctx.tel.con, _sql.load("detectors/downstream_hot_calls"),
                             {"peer": peer, "threshold_ms": max(2.0 * usual, usual + 5.0)})
        evidence = [
            Evidence("peer_ms_per_slow_request", round(float(arr[slow].mean()) if slow.any() else 0.0, 1),
                     round(usual, 1), ctx.exemplars(inflated)),
            Evidence("requests_with_inflated_calls_share", round(float(inflated.mean()), 3), None),
            Evidence("mann_whitney_p_value", p_value, None),
        ]
        if gap is not None:
            evidence.append(Evidence("client_minus_server_ms", round(gap, 2), None))
        names = set(row.span_names) if row is not None else set()
        cp_share = _critical_path_share(ctx, names, ctx.exemplars(inflated, n=20))
        if cp_share is not None:
            evidence.append(Evidence("share_of_critical_path_in_slowest_traces", round(cp_share, 3), None))
        out.append(Finding(
            category="slow_downstream",
            title=f"Downstream '{peer}' got slower: its calls explain {share:.0%} of the P99 excess",
            root_cause=RootCause(entity=peer, kind="dependency",
                                 state_change=f"per-request call time {usual:.0f} -> "
                                              f"{float(arr[inflated].mean()):.0f} ms",
                                 start=iso(hot[0]) if hot and hot[0] is not None else None,
                                 end=iso(hot[1]) if hot and hot[1] is not None else None),
            symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.baseline_p99, 1),
                            observed=round(ctx.observed_p99, 1)),
            impact=Impact(share_of_requests=float(inflated.mean()), window=ctx.window),
            effect_size=round(effect, 3),
            confidence=confidence(p_value, share, effect, support=ctx.materiality(inflated)),
            evidence=evidence,
            counterfactual={"sli_if_fixed": round(ctx.p99(~inflated), 1), "p99_excess_removed_share": round(share, 3)},
            remediation=[f"Fix or scale '{peer}' (look at its own slow operations: an unindexed query, "
                         "a hot partition); add a timeout and a fallback; cache its answers."],
            chain=[f"dependency {peer}", "slow calls on the critical path", "P99"], excess_share=share,
            plot={"mechanism": name, "active": ctx.in_steps(inflated)},
        ))
    return out


def _critical_path_share(ctx: Context, names: set[str], trace_ids: list[str]) -> float | None:
    if not trace_ids:
        return None
    agg = ctx.tel.aggregate_critical_path(trace_ids)
    if agg.empty:
        return None
    own = {r[0] for r in ctx.tel.con.execute(_sql.load("detectors/request_services")).fetchall()}
    # the client span's own time (network, queueing) plus the peer's spans when it is traced too
    on_peer = agg["name"].isin(names) | ~agg["service"].isin(own)
    return float(agg.loc[on_peer, "share"].sum())
