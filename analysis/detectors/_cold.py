"""cold_start: a new instance (deploy, restart, scale-out) whose first requests are slow.

Only instances that appear after the window began count (the window's own start is not a
restart); their first minute of requests is contrasted with everything else.
"""

from __future__ import annotations

import numpy as np
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso

WARMUP_NS = 60_000_000_000


def detect(ctx: Context) -> list[Finding]:
    early = _sql.run(ctx.tel.con, "detectors/cold_start_requests", warmup_ns=WARMUP_NS)
    if len(early) < 3:
        return []
    mask = ctx.requests["idx"].isin(early["idx"]).to_numpy()
    new = early.groupby("instance")["first_ns"].min()
    p_value, effect = ctx.contrast(mask)
    share = ctx.excess_share(mask)
    if share <= 0 or effect <= 0:
        return []
    inst = str(early["instance"].value_counts().index[0])
    return [Finding(
        category="cold_start",
        title=f"New instance {inst}: its first minute of requests is slow",
        root_cause=RootCause(entity=inst, kind="deploy", state_change="instance started",
                             start=iso(new.min()), end=iso(new.max() + WARMUP_NS)),
        symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.p99(~mask), 1),
                        observed=round(ctx.p99(mask), 1)),
        impact=Impact(share_of_requests=float(np.mean(mask)), window=ctx.window),
        effect_size=round(effect, 3), confidence=confidence(p_value, share, effect),
        evidence=[Evidence("p99_first_minute_ms", round(ctx.p99(mask), 1), round(ctx.p99(~mask), 1),
                           ctx.exemplars(mask)),
                  Evidence("new_instances", len(new), None),
                  Evidence("mann_whitney_p_value", p_value, None)],
        counterfactual={"sli_if_fixed": round(ctx.p99(~mask), 1), "p99_excess_removed_share": round(share, 3)},
        remediation=["Warm up before taking traffic (load the model, prime caches, compile kernels) and "
                     "gate readiness on it."],
        chain=[f"instance {inst} started", "cold caches / lazy loading", "P99"], excess_share=share,
    )]
