"""periodic_job_interference: a recurring job whose runs make requests slow.

Jobs are traces started by a scheduler (root spans that are not requests, or spans carrying
``infersight.job.name``). For each job with runs in the window: requests that overlapped a run
(active) vs the rest, Mann-Whitney U on route-normalised latency, the share of the P99 excess
carried by active requests, the periodicity of the P99 series at the job's period
(autocorrelation) and its phase (how much more often slow requests fall inside runs than the
duty cycle predicts), and the path the damage takes (GC, event loop, pool or a dependency).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._context import Context, confidence, dominant_mechanism
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso

GRACE_NS = 500_000_000  # GC debt and queued requests drain shortly after a run ends
#: a job whose runs take less than this (net of GC pauses that stalled it) does too little work
#: to disturb requests; its short windows would only collect coincidences
MIN_NET_RUN_MS = 50.0

_PATHWAY_TEXT = {
    "gc": "garbage-collection pauses", "event_loop": "event-loop blocking",
    "pool": "connection-pool waits", "cpu": "CPU contention",
}


def _autocorr_at(series: np.ndarray, lag: int) -> float:
    x = np.asarray(series, dtype=float)
    if lag <= 0 or lag >= len(x) - 2:
        return float("nan")
    x = x - np.nanmean(x)
    x = np.nan_to_num(x)
    den = float((x * x).sum())
    return float((x[:-lag] * x[lag:]).sum() / den) if den > 0 else float("nan")


def union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping intervals (sorted, disjoint result)."""
    order = np.argsort(starts)
    s, e = np.asarray(starts, dtype=np.int64)[order], np.asarray(ends, dtype=np.int64)[order]
    us, ue = [int(s[0])], [int(e[0])]
    for a, b in zip(s[1:], e[1:], strict=True):
        if a <= ue[-1]:
            ue[-1] = max(ue[-1], int(b))
        else:
            us.append(int(a))
            ue.append(int(b))
    return np.array(us, dtype=np.int64), np.array(ue, dtype=np.int64)


def net_run_ms(ctx: Context, starts: np.ndarray, ends: np.ndarray) -> float:
    """Mean run time of a job minus the GC pauses inside its runs (a stop-the-world pause
    stretches every span it overlaps, so a trivial job looks long during a GC storm)."""
    if len(starts) == 0:
        return 0.0
    ev = ctx.table("runtime_events")
    ev = ev[ev["kind"] == "gc"]
    total = (ends - starts).astype(float)
    if not ev.empty:
        us, ue = union(ev["start_ns"].to_numpy(), ev["end_ns"].to_numpy())
        for i in range(len(starts)):
            total[i] -= np.clip(np.minimum(ue, ends[i]) - np.maximum(us, starts[i]), 0, None).sum()
    return float(total.mean() / 1e6)


def arrived_during(ctx: Context, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Requests that arrived while a run was going (or within GRACE_NS after it).

    Arrival, not overlap: a long request overlaps more windows by its length alone, so
    "overlapped a run" is biased toward slow requests and would implicate any frequent job.
    """
    return ctx.overlapping(starts, ends, grace_ns=GRACE_NS, at_arrival=True)


def _tail_contrast(ctx: Context, active: np.ndarray, slow: np.ndarray) -> tuple[float, float] | None:
    """A job whose runs stall only some requests (a stop-the-world GC pause hits those in flight)
    leaves the typical request unchanged, so the rank test sees nothing, while the slow requests
    crowd into its runs. One-sided binomial test: are more of the slow requests inside runs than
    the share of requests inside runs predicts, and is P99 inside runs higher? Returns (p value,
    effect = the excess concentration of slow requests, 0..1) or None."""
    from scipy.stats import binomtest

    n_slow, k, p0 = int(slow.sum()), int(slow[active].sum()), float(active.mean())
    if n_slow < 5 or not 0.0 < p0 < 1.0 or ctx.p99(active) <= ctx.p99(~active):
        return None
    p_tail = float(binomtest(k, n_slow, p0, alternative="greater").pvalue)
    effect = (k / n_slow - p0) / (1.0 - p0)
    if p_tail >= 0.01 or effect <= 0:
        return None
    return p_tail, effect


def detect(ctx: Context) -> list[Finding]:
    jobs = _sql.run(ctx.tel.con, "detectors/periodic_jobs")
    out: list[Finding] = []
    slow = ctx.slow_mask()
    for job in jobs.itertuples(index=False):
        starts = np.asarray(job.starts_ns, dtype=np.int64)
        ends = np.asarray(job.ends_ns, dtype=np.int64)
        if net_run_ms(ctx, starts, ends) < MIN_NET_RUN_MS:
            continue
        active = arrived_during(ctx, starts, ends)
        if active.sum() < 3:
            continue
        p_value, effect = ctx.contrast(active)
        share = ctx.excess_share(active)
        if share <= 0:
            continue
        if effect <= 0:  # no shift of typical requests: is the damage in the tail only?
            tail = _tail_contrast(ctx, active, slow)
            if tail is None:
                continue
            p_value, effect = tail
        active_time = float(np.minimum(ends + GRACE_NS - starts, np.inf).sum())
        span_ns = max(1, ctx.tel.until_ns - ctx.tel.since_ns)
        duty = min(1.0, active_time / span_ns)
        slow_in = float(slow[active].sum() / max(1, slow.sum())) if slow.any() else 0.0
        lift = slow_in / max(duty, 1e-6)
        periodic = job.runs >= 3 and job.period_cv is not None and float(job.period_cv) < 0.35
        acf = float("nan")
        if periodic:
            series = ctx.p99_series()
            lag = int(round(float(job.period_s) * 1e9 / ctx.step_ns))
            acf = _autocorr_at(series["p99"].to_numpy(), lag)
        support = min(1.0, lift / 3.0) if lift > 1 else 0.0
        conf = confidence(p_value, share, effect, support=support)
        if not periodic:
            conf *= 0.8
        pathway, in_ms, out_ms = dominant_mechanism(ctx, active)
        path_text = _PATHWAY_TEXT.get(pathway, pathway.replace("dependency:", "shared dependency "))
        p99_active, p99_idle = ctx.p99(active), ctx.p99(~active)
        period_txt = f"every {float(job.period_s):.0f} s" if periodic else f"{job.runs} run(s)"
        rows_txt = f", {float(job.mean_rows):,.0f} rows per run" if pd.notna(job.mean_rows) and job.mean_rows else ""
        evidence = [
            Evidence("p99_while_job_runs_ms", round(p99_active, 1), round(p99_idle, 1), ctx.exemplars(active)),
            Evidence("mann_whitney_p_value", p_value, None),
            Evidence("slow_requests_inside_runs_share", round(slow_in, 3), round(duty, 3)),
            Evidence("job_runs", int(job.runs), None, [str(t) for t in list(job.trace_ids)[:3]]),
            Evidence(f"{pathway}_ms_per_request_while_job_runs", round(in_ms, 2), round(out_ms, 2)),
        ]
        if periodic:
            evidence.append(Evidence("job_period_s", round(float(job.period_s), 2), None))
            evidence.append(Evidence("p99_autocorrelation_at_job_period", None if acf != acf else round(acf, 3), None))
        chain = [f"job {job.job} ({period_txt}{rows_txt})", path_text,
                 f"P99 {p99_idle:.0f} -> {p99_active:.0f} ms while it runs"]
        out.append(Finding(
            category="periodic_job_interference",
            title=f"Job '{job.job}' ({period_txt}) slows requests through {path_text}",
            root_cause=RootCause(entity=str(job.job), kind="job",
                                 state_change=f"runs {period_txt}, {float(job.mean_duration_ms) / 1e3:.1f} s each "
                                              f"(duty cycle {duty:.0%}){rows_txt}",
                                 start=iso(job.first_start_ns), end=iso(job.last_end_ns)),
            symptom=Symptom(sli="latency_p99_ms", scope=ctx.scope, baseline=round(p99_idle, 1),
                            observed=round(p99_active, 1)),
            impact=Impact(share_of_requests=float(active.mean()), window=ctx.window),
            effect_size=round(effect, 3), confidence=conf, evidence=evidence,
            counterfactual={"sli_if_fixed": round(ctx.baseline_p99, 1),
                            "p99_excess_removed_share": round(share, 3)},
            remediation=[
                "Make the job incremental (sync by updated-at timestamp) instead of a full pull.",
                "Stream rows in batches instead of materialising the whole table in memory.",
                "Serve lookups from an LRU / second-level cache; run the job off the serving process.",
            ],
            chain=chain, excess_share=share,
            plot={"job_windows": list(zip(starts.tolist(), ends.tolist(), strict=True)), "pathway": pathway,
                  "active": active},
        ))
    return out
