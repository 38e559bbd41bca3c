"""gc_pause and event_loop_block: requests stalled by the Python runtime itself.

Each request carries the GC pause time and the event-loop blocking it overlapped
(``infersight.gc.pause_ms`` and ``event_loop.blocked`` events). The share of the P99 excess they
explain is the excess capped by that time; Mann-Whitney U contrasts requests that overlapped a
stall with those that did not. GC also reports the gen-2 rate and where the allocations came
from (a job whose runs hold the pauses, or the route whose requests see the most).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence, mechanisms
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso
from infersight.analysis.detectors._jobs import MIN_NET_RUN_MS, net_run_ms

MIN_STALL_MS = 1.0


def _allocation_source(ctx: Context, events: pd.DataFrame) -> tuple[str, float]:
    """(entity, share of GC pause time) for the job or route the GC pauses line up with."""
    jobs = ctx.table("jobs")
    total = float(events["duration_ms"].sum()) if not events.empty else 0.0
    best = ("", 0.0)
    if total > 0 and not jobs.empty:
        for job, g in jobs.groupby("job"):
            if net_run_ms(ctx, g["start_ns"].to_numpy(), g["end_ns"].to_numpy()) < MIN_NET_RUN_MS:
                continue  # too little work to be an allocation source
            s, e = g["start_ns"].to_numpy(), g["end_ns"].to_numpy() + 500_000_000
            st = events["start_ns"].to_numpy()
            idx = np.searchsorted(s, st, side="right") - 1
            inside = (idx >= 0) & (st < e[np.clip(idx, 0, None)])
            share = float(events["duration_ms"].to_numpy()[inside].sum() / total)
            if share > best[1]:
                best = (f"job {job}", share)
    if best[1] >= 0.5:
        return best
    r = ctx.requests
    by_route = r.groupby("route", observed=True)["gc_pause_ms"].sum()
    if by_route.sum() > 0:
        route = str(by_route.idxmax())
        return f"route {route}", float(by_route.max() / by_route.sum())
    return best


def detect_gc(ctx: Context) -> list[Finding]:
    gc = mechanisms(ctx)["gc"]
    has = gc >= MIN_STALL_MS
    if has.sum() < 3:
        return []
    share = ctx.excess_share(attributable_ms=gc)
    p_value, effect = ctx.contrast(has)
    if share <= 0 or effect <= 0:
        return []
    gens = _sql.run(ctx.tel.con, "detectors/gc_generations", **ctx.tel.params)
    events = ctx.table("runtime_events")
    events = events[events["kind"] == "gc"]
    if len(ctx.requests):
        # pauses before the first request in the window (process start-up, model loading) stalled
        # nobody: they must not name the start-up as the allocation source of the P99 excess
        events = events[events["start_ns"] >= int(ctx.requests["start_ns"].min())]
    metric = _sql.run(ctx.tel.con, "detectors/gc_collections_metric", **ctx.tel.params)
    gen2 = gens[gens["generation"] == 2]
    gen2_rate = float(gen2["per_hour"].iloc[0]) if len(gen2) else 0.0
    m2 = metric[metric["generation"].astype(str) == "2"]
    gen2_metric_rate = float(m2["per_hour"].sum()) if len(m2) else None
    source, source_share = _allocation_source(ctx, events)
    conf = confidence(p_value, share, effect, support=ctx.materiality(has))
    slow = ctx.slow_mask()
    tail_gc = float(gc[slow].mean()) if slow.any() else 0.0
    evidence = [
        Evidence("gc_pause_ms_per_slow_request", round(tail_gc, 2), round(float(gc[~slow].mean()), 2),
                 ctx.exemplars(has)),
        Evidence("requests_overlapping_gc_share", round(float(has.mean()), 3), None),
        Evidence("p99_with_gc_vs_without_ms", round(ctx.p99(has), 1), round(ctx.p99(~has), 1)),
        Evidence("mann_whitney_p_value", p_value, None),
        Evidence("gen2_pauses_per_hour", round(gen2_rate, 1), None),
    ]
    if gen2_metric_rate is not None:
        evidence.append(Evidence("gen2_collections_per_hour_metric", round(gen2_metric_rate, 1), None))
    if source:
        evidence.append(Evidence("allocation_source_share_of_gc_time", round(source_share, 3), None))
    longest = events.nlargest(1, "duration_ms") if not events.empty else events
    return [Finding(
        category="gc_pause",
        title=f"GC pauses explain {share:.0%} of the P99 excess" + (f" (allocations from {source})" if source else ""),
        root_cause=RootCause(entity=source or "python gc", kind="runtime",
                             state_change=f"gen-2 pauses {gen2_rate:.0f}/h, up to "
                                          f"{float(events['duration_ms'].max()) if not events.empty else 0:.0f} ms",
                             start=iso(longest["start_ns"].iloc[0]) if len(longest) else None, end=None),
        symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.baseline_p99, 1),
                        observed=round(ctx.observed_p99, 1)),
        impact=Impact(share_of_requests=float(has.mean()), window=ctx.window),
        effect_size=round(effect, 3), confidence=conf, evidence=evidence,
        counterfactual={"sli_if_fixed": round(ctx.p99(~has), 1), "p99_excess_removed_share": round(share, 3)},
        remediation=[
            "Find the allocation source (the job or route named) and stop building large object graphs "
            "per call: stream, reuse buffers, keep data in arrays/Arrow instead of dicts.",
            "gc.freeze() after start-up; raise gc thresholds (gc.set_threshold) for long-lived heaps.",
        ],
        chain=[source or "allocations", "gen-2 GC pauses", "P99"], excess_share=share,
        plot={"mechanism": "gc", "active": ctx.in_steps(has)},
    )]


def detect_loop(ctx: Context) -> list[Finding]:
    loop = mechanisms(ctx)["event_loop"]
    has = loop >= MIN_STALL_MS
    if has.sum() < 3:
        return []
    share = ctx.excess_share(attributable_ms=loop)
    p_value, effect = ctx.contrast(has)
    if share <= 0 or effect <= 0:
        return []
    events = ctx.table("runtime_events")
    events = events[events["kind"] == "loop"]
    stack = ""
    if not events.empty and events["stack"].notna().any():
        stack = str(events.dropna(subset=["stack"]).nlargest(1, "duration_ms")["stack"].iloc[0])
    where = _top_frame(stack)
    r = ctx.requests
    route_share = r.assign(b=loop).groupby("route", observed=True)["b"].sum()
    culprit_route = str(route_share.idxmax()) if route_share.sum() > 0 else ""
    conf = confidence(p_value, share, effect, support=ctx.materiality(has))
    entity = where or (f"route {culprit_route}" if culprit_route else "event loop")
    return [Finding(
        category="event_loop_block",
        title=f"Blocking code on the event loop ({entity}) explains {share:.0%} of the P99 excess",
        root_cause=RootCause(entity=entity, kind="code", state_change="synchronous work inside an async handler",
                             start=iso(events["start_ns"].min()) if not events.empty else None,
                             end=iso(events["end_ns"].max()) if not events.empty else None),
        symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(ctx.baseline_p99, 1),
                        observed=round(ctx.observed_p99, 1)),
        impact=Impact(share_of_requests=float(has.mean()), window=ctx.window),
        effect_size=round(effect, 3), confidence=conf,
        evidence=[
            Evidence("loop_blocked_ms_per_affected_request", round(float(loop[has].mean()), 2), 0.0,
                     ctx.exemplars(has)),
            Evidence("event_loop_blocks", len(events), None),
            Evidence("longest_block_ms", round(float(events["duration_ms"].max()), 1) if not events.empty else None, None),
            Evidence("mann_whitney_p_value", p_value, None),
            Evidence("blocking_stack", stack[-1500:] if stack else None, None),
        ],
        counterfactual={"sli_if_fixed": round(ctx.p99(~has), 1), "p99_excess_removed_share": round(share, 3)},
        remediation=["Move CPU-bound or blocking work off the loop: await asyncio.to_thread(...) or a "
                     "process pool; use async clients for I/O."],
        chain=[entity, "event loop blocked", "every concurrent request waits", "P99"], excess_share=share,
        plot={"mechanism": "event_loop", "active": ctx.in_steps(has)},
    )]


def _top_frame(stack: str) -> str:
    """The innermost 'File ..., line N, in func' of a formatted stack, as 'func (file:line)'."""
    lines = [ln.strip() for ln in stack.splitlines() if ln.strip().startswith("File ")]
    for ln in reversed(lines):
        if "asyncio" in ln or "site-packages" in ln or "/infersight/instrument" in ln:
            continue
        try:
            file_part, line_part, func_part = ln.split(", ", 2)
            return f"{func_part.removeprefix('in ')} ({file_part[6:-1].rsplit('/', 1)[-1]}:{line_part[5:]})"
        except ValueError:
            return ln
    return ""


detectors = (detect_gc, detect_loop)
