"""vLLM findings from vLLM's own per-request latency split (``stg_vllm_requests``) and metrics.

Only vLLM data counts: no ``llm_request`` spans in the window means no findings.

- gpu_saturation: the slow requests' excess latency is mostly *queue* time (waiting for a
  batch slot): the engine is saturated (more replicas, ``--max-num-seqs``, KV-cache size).
- gpu_throttling (slow compute): the excess is mostly prefill/decode time and the compute per
  processed token is slower in the slow requests while the running batch is not larger (so
  not batching) and the slow requests do not line up with a traced job's runs (then the job is
  the cause and its own finding says so), in a period of the window rather than spread over all
  of it (jitter): clocks, an untraced co-located process, a degraded card. Slower prefill while the prefix
  cache misses is the cache's finding, not this one.
- cache_miss_storm: TTFT is higher while the prefix-cache hit rate (``vllm:prefix_cache_hits``
  / ``vllm:prefix_cache_queries``) has dropped below its usual level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding, Impact, RootCause, Symptom, iso
from infersight.analysis.detectors._base import confidence
from infersight.analysis.detectors._jobs import T as JOB_THRESHOLDS
from scipy import stats


@dataclass(frozen=True)
class Thresholds:
    #: a job's queued requests drain shortly after its run ends (shared with the job detector)
    grace_ns: int = JOB_THRESHOLDS.grace_ns
    min_requests: int = 10
    #: slow requests: e2e at or above the window's P90 ...
    slow_q: float = 0.9
    #: ... and at least 1.5x the median
    slow_vs_median: float = 1.5
    #: share of the excess a part must carry to be named
    majority: float = 0.5
    #: median queue / e2e in the slow requests for saturation
    min_queue_share: float = 0.3
    #: compute per token in slow requests vs normal ones
    per_token_slower: float = 1.3
    #: running batch during slow requests at most this much larger
    equal_batch: float = 1.25
    #: slower-per-token requests at least this much inside the incident: a change, not jitter
    min_in_incident: float = 0.6
    #: slow requests inside job runs: the job's finding, not slow compute ...
    job_overlap: float = 0.6
    #: ... when that is this much more than for normal requests
    job_lift: float = 1.5
    #: a prefix-cache step is a drop when its hit rate is this much below ...
    hit_drop_abs: float = 0.2
    #: ... and below this fraction of the usual (75th percentile) rate
    hit_drop_rel: float = 0.75
    min_usual_hit: float = 0.1
    ttft_slower: float = 1.2


T = Thresholds()


class VllmDetector:
    name = "vllm"
    categories = (Category.GPU_SATURATION, Category.GPU_THROTTLING, Category.CACHE_MISS_STORM)

    def detect(self, ctx: Context) -> list[Finding]:
        found = detect(ctx)
        inc = ctx.incident
        for f in found:
            f.onset = iso(inc.onset_ns)
            f.baseline_window = f"{iso(inc.baseline_ns[0])}/{iso(inc.baseline_ns[1])}" if inc.baseline_ns else None
        return found


def detect(ctx: Context) -> list[Finding]:
    req = _sql.run(ctx.tel.con, "detectors/vllm_requests", **ctx.tel.range_params)
    # the requests the gate looked at: the incident and its baseline (no warm-up)
    keep = ctx.requests["start_ns"][(ctx.inc | ctx.base)]
    req = req[req["start_ns"].isin(keep)].reset_index(drop=True)
    if len(req) < T.min_requests:
        return []
    steps = _sql.run(ctx.tel.con, "detectors/vllm_steps", step_ns=ctx.step_ns, **ctx.tel.range_params)
    storm = _prefix_cache(ctx, req, steps)
    split = _saturation_or_compute(ctx, req, steps)
    if storm is not None and split is not None and split.root_cause.state_change.startswith("prefill"):
        split = None  # prefill is slower per token because cached prefixes are recomputed: one cause
    return [f for f in (split, storm) if f is not None]


def _mwu(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney U (a greater than b): (p_value, rank-biserial effect)."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 3 or len(b) < 3:
        return 1.0, 0.0
    res = stats.mannwhitneyu(a, b, alternative="greater")
    return float(res.pvalue), 2.0 * float(res.statistic) / (len(a) * len(b)) - 1.0


def _exemplars(req: pd.DataFrame, mask: np.ndarray, col: str = "e2e_ms", n: int = 5) -> list[str]:
    return [str(t) for t in req[mask].nlargest(n, col)["trace_id"]]


def _ctx_share(ctx: Context, req: pd.DataFrame, mask: np.ndarray, attributable_ms: np.ndarray) -> float:
    """Share of the window's P99 excess (all requests, as the other detectors count it) that the
    ``mask`` vLLM requests carry, capped by the milliseconds this cause explains in each."""
    pos = pd.Series(np.arange(len(ctx.requests)), index=ctx.requests["start_ns"].to_numpy())
    pos = pos[~pos.index.duplicated()]
    at = req["start_ns"].map(pos).to_numpy()
    keep = np.asarray(mask, dtype=bool) & ~np.isnan(at)
    if not keep.any():
        return 0.0
    m = np.zeros(len(ctx.requests), dtype=bool)
    cap = np.zeros(len(ctx.requests))
    m[at[keep].astype(np.int64)] = True
    cap[at[keep].astype(np.int64)] = np.nan_to_num(np.asarray(attributable_ms, dtype=float)[keep])
    return ctx.excess_share(m, cap)


def _during_jobs(ctx: Context, req: pd.DataFrame, slow: np.ndarray, normal: np.ndarray) -> bool:
    """Do the slow requests fall in job runs (CPU/GPU contention), well above the normal ones' rate?"""
    jobs = ctx.table("jobs")
    if jobs.empty:
        return False
    # a job's garbage is collected (and its CPU still busy) a little after it ends: _jobs' grace
    js, je = jobs["start_ns"].to_numpy(dtype=np.int64), jobs["end_ns"].to_numpy(dtype=np.int64) + T.grace_ns
    rs, re = req["start_ns"].to_numpy(dtype=np.int64), req["end_ns"].to_numpy(dtype=np.int64)
    inside = np.array([bool(((js < e) & (je > s)).any()) for s, e in zip(rs, re, strict=True)])
    return bool(inside[slow].mean() >= T.job_overlap and inside[slow].mean() > T.job_lift * inside[normal].mean())


def _at_request(req: pd.DataFrame, steps: pd.DataFrame, col: str, step_ns: int) -> np.ndarray:
    """The step value of ``col`` for each request (the step its start falls in; NaN if none)."""
    if steps.empty or steps[col].isna().all():
        return np.full(len(req), np.nan)
    by_step = steps.dropna(subset=[col]).set_index("ts_ns")[col]
    return (req["start_ns"] // step_ns * step_ns).map(by_step).to_numpy(dtype=float)


def _base(ctx: Context, req: pd.DataFrame, mask: np.ndarray, *, category: str, title: str, entity: str,
          kind: str, change: str, sli: str, col: str, p_value: float, effect: float, share: float,
          evidence: list[Evidence], remediation: list[str]) -> Finding:
    values = req[col].to_numpy(dtype=float)
    starts = req["start_ns"].to_numpy()[mask]
    base = float(np.nanquantile(values[~mask], 0.99)) if (~mask).any() else None
    # the requests (rows of ctx.requests) this cause hit, for the fold rules
    active = ctx.requests["start_ns"].isin(req["start_ns"].to_numpy()[mask]).to_numpy()
    conf, feats = confidence(ctx, p_value, share, effect)
    return Finding(
        category=category, title=title,
        root_cause=RootCause(entity=entity, kind=kind, state_change=change,
                             start=iso(int(starts.min())) if len(starts) else None,
                             end=iso(int(req["end_ns"].to_numpy()[mask].max())) if len(starts) else None),
        symptom=Symptom(sli=sli, scope="vLLM llm_request", baseline=None if base is None else round(base, 1),
                        observed=round(float(np.nanquantile(values, 0.99)), 1)),
        impact=Impact(share_of_requests=float(mask.mean()), window=ctx.window),
        effect_size=round(effect, 3), confidence=conf, features=feats,
        evidence=[*evidence, Evidence("mann_whitney_p_value", p_value, None)],
        counterfactual={"sli_if_fixed": base and round(base, 1), "p99_excess_removed_share": round(share, 3)},
        remediation=remediation, chain=[entity, change, sli], excess_share=share,
        mechanism=_engine_part(ctx, "engine_queue" if category == "gpu_saturation" else "engine_compute"),
        active=active,
    )


def _engine_part(ctx: Context, role: str) -> str:
    """The decomposition part (engine queue or compute) that rose most: this finding's mechanism."""
    changes = [c for c in ctx.parts().changes if c.role == role]
    return max(changes, key=lambda c: c.share).part if changes else role


def _saturation_or_compute(ctx: Context, req: pd.DataFrame, steps: pd.DataFrame) -> Finding | None:
    e2e = req["e2e_ms"].to_numpy(dtype=float)
    queue, compute = req["queue_ms"].to_numpy(dtype=float), req["compute_ms"].to_numpy(dtype=float)
    # what each request should take for its token counts at the baseline's typical speed: a long
    # answer is not slow, a request that took longer than its tokens explain is
    base = req["start_ns"].isin(ctx.requests["start_ns"][ctx.base]).to_numpy()
    ref = base if base.sum() >= T.min_requests else np.ones(len(req), dtype=bool)
    pf, tp = (float(np.nanmedian(v[ref])) if not np.isnan(v[ref]).all() else np.nan
              for v in (req["prefill_ms_per_token"].to_numpy(dtype=float), req["tpot_ms"].to_numpy(dtype=float)))
    tokens = req["prompt_tokens"].to_numpy(dtype=float) * pf + np.clip(
        req["completion_tokens"].to_numpy(dtype=float) - 1, 0, None) * tp
    exp_compute = np.where(np.isnan(tokens) | (tokens <= 0), float(np.median(compute[ref])), tokens)
    q0 = float(np.median(queue[ref]))
    expected = q0 + float(np.median(np.clip(e2e - queue - compute, 0, None)[ref])) + exp_compute
    excess_ms = np.clip(e2e - expected, 0, None)
    slow = (excess_ms >= np.quantile(excess_ms, T.slow_q)) & (e2e > T.slow_vs_median * expected)
    normal = excess_ms <= np.median(excess_ms)
    if slow.sum() < 3 or normal.sum() < 3:
        return None
    med = float(np.median(e2e[normal]))
    excess = float(excess_ms[slow].sum())
    q_ms, c_ms = np.clip(queue - q0, 0, None), np.clip(compute - exp_compute, 0, None)
    q_share = min(1.0, float(q_ms[slow].sum()) / excess)
    c_share = min(1.0, float(c_ms[slow].sum()) / excess)
    qs = req["queue_share"].to_numpy(dtype=float)
    p50 = round(float(np.median(e2e[slow])), 1), round(med, 1)
    if q_share >= T.majority and float(np.nanmedian(qs[slow])) >= T.min_queue_share:
        p_value, effect = _mwu(qs[slow], qs[normal])
        if effect <= 0:
            return None
        waiting = _at_request(req, steps, "waiting", ctx.step_ns)
        ev = [Evidence("queue_share_of_excess", round(q_share, 3), None, _exemplars(req, slow)),
              Evidence("queue_share_of_e2e_median", round(float(np.nanmedian(qs[slow])), 3),
                       round(float(np.nanmedian(qs[normal])), 3)),
              Evidence("queue_ms_median", round(float(np.median(queue[slow])), 1),
                       round(float(np.median(queue[normal])), 1)),
              Evidence("e2e_ms_median", *p50)]
        if not np.isnan(waiting).all():
            ev.append(Evidence("waiting_requests_mean", round(float(np.nanmean(waiting[slow])), 2),
                               round(float(np.nanmean(waiting[normal])), 2) if not np.isnan(waiting[normal]).all()
                               else None))
        return _base(
            ctx, req, slow, category="gpu_saturation",
            title=f"vLLM engine saturated: {q_share:.0%} of the slow requests' excess latency is queue time",
            entity="vllm engine", kind="vllm_engine", change="requests wait for a batch slot (queue time)",
            sli="e2e_latency_p99_ms", col="e2e_ms", p_value=p_value, effect=effect,
            share=_ctx_share(ctx, req, slow, q_ms), evidence=ev,
            remediation=["Add vLLM replicas (or data-parallel ranks) behind the router.",
                         "Raise --max-num-seqs / --max-num-batched-tokens if the GPU has headroom; give the "
                         "KV cache more memory (--gpu-memory-utilization) so more sequences fit.",
                         "Cap client concurrency or shed load before the queue grows."])
    if c_share < T.majority:
        return None
    # per token, prefill and decode apart: a long answer is slow without any token being slower
    ratio, phase, per_tok = 0.0, "", np.full(len(req), np.nan)
    for col, name in (("tpot_ms", "decode"), ("prefill_ms_per_token", "prefill")):
        v = req[col].to_numpy(dtype=float)
        if np.isnan(v[slow]).all() or np.isnan(v[normal]).all():
            continue
        r = float(np.nanmedian(v[slow])) / max(float(np.nanmedian(v[normal])), 1e-9)
        if r > ratio:
            ratio, phase, per_tok = r, name, v
    running = _at_request(req, steps, "running", ctx.step_ns)
    batch_ratio = float("nan")
    if not (np.isnan(running[slow]).all() or np.isnan(running[normal]).all()):
        batch_ratio = float(np.nanmean(running[slow])) / max(float(np.nanmean(running[normal])), 1e-9)
    if ratio < T.per_token_slower or batch_ratio > T.equal_batch:
        return None  # longer outputs, or slower because the batch is bigger (saturation, not compute)
    # a state change (slower compute in the incident), not jitter spread over baseline and incident
    slower = slow & (per_tok >= T.per_token_slower * float(np.nanmedian(per_tok[normal])))
    in_inc = ctx.requests["start_ns"][ctx.inc].to_numpy()
    if not slower.any() or float(np.isin(req["start_ns"].to_numpy()[slower], in_inc).mean()) < T.min_in_incident:
        return None
    if _during_jobs(ctx, req, slow, normal):
        return None  # compute slowed while a job runs next to it: the job is the cause (its finding)
    p_value, effect = _mwu(per_tok[slow], per_tok[normal])
    if effect <= 0:
        return None
    ev = [Evidence("compute_share_of_excess", round(c_share, 3), None, _exemplars(req, slow)),
          Evidence(f"{phase}_ms_per_token_median", round(float(np.nanmedian(per_tok[slow])), 3),
                   round(float(np.nanmedian(per_tok[normal])), 3)),
          Evidence("e2e_ms_median", *p50)]
    if not np.isnan(batch_ratio):
        ev.append(Evidence("running_batch_ratio", round(batch_ratio, 3), 1.0))
    return _base(
        ctx, req, slow, category="gpu_throttling",
        title=f"vLLM {phase} {ratio:.1f}x slower per token at the same batch size",
        entity="vllm model compute", kind="vllm_engine", change=f"{phase} slower per token",
        sli="e2e_latency_p99_ms", col="e2e_ms", p_value=p_value, effect=effect,
        share=_ctx_share(ctx, req, slow, c_ms), evidence=ev,
        remediation=["Check GPU clocks and throttle reasons (nvidia-smi -q -d PERFORMANCE) and other processes "
                     "on the GPU (nvidia-smi pmon).",
                     "Compare the vLLM version, attention backend, dtype/quantisation and CUDA graphs "
                     "(--enforce-eager off) with the fast period."])


def _prefix_cache(ctx: Context, req: pd.DataFrame, steps: pd.DataFrame) -> Finding | None:
    if steps.empty or steps["queries"].isna().all() or req["ttft_ms"].isna().all():
        return None
    s = steps[steps["queries"] > 0].copy()
    if len(s) < 3:
        return None
    s["rate"] = s["hits"].fillna(0) / s["queries"]
    usual = float(s["rate"].quantile(0.75))
    if usual < T.min_usual_hit:
        return None
    drop = s[(s["rate"] < usual - T.hit_drop_abs) & (s["rate"] < T.hit_drop_rel * usual)]
    if drop.empty:
        return None
    req = req[req["ttft_ms"].notna()].reset_index(drop=True)
    mask = (req["start_ns"] // ctx.step_ns * ctx.step_ns).isin(drop["ts_ns"]).to_numpy()
    ttft = req["ttft_ms"].to_numpy(dtype=float)
    if mask.sum() < 3 or (~mask).sum() < 3:
        return None
    slower = float(np.median(ttft[mask])) / max(float(np.median(ttft[~mask])), 1e-9)
    p_value, effect = _mwu(ttft[mask], ttft[~mask])
    if slower < T.ttft_slower or effect <= 0:
        return None
    base = float(np.median(ttft[~mask]))
    excess = np.clip(ttft - base, 0, None)
    share = float(excess[mask].sum() / excess.sum()) if excess.sum() > 0 else 0.0
    drop_rate = float(drop["hits"].fillna(0).sum() / drop["queries"].sum())
    return _base(
        ctx, req, mask, category="cache_miss_storm",
        title=f"vLLM prefix cache hit rate fell from {usual:.0%} to {drop_rate:.0%}; TTFT {slower:.1f}x higher",
        entity="vllm prefix cache", kind="cache", change=f"prefix-cache hit rate {usual:.0%} -> {drop_rate:.0%}",
        sli="ttft_p99_ms", col="ttft_ms", p_value=p_value, effect=effect, share=share,
        evidence=[Evidence("ttft_ms_median", round(float(np.median(ttft[mask])), 1), round(base, 1),
                           _exemplars(req, mask, "ttft_ms")),
                  Evidence("prefix_cache_hit_rate", round(drop_rate, 3), round(usual, 3)),
                  Evidence("steps_with_low_hit_rate", len(drop), len(s))],
        remediation=["Keep shared prompt prefixes stable (system prompt, tools, few-shot) and at the start "
                     "of the prompt; route a session to the same replica (prefix-aware routing).",
                     "Give the KV cache more memory (--gpu-memory-utilization) so cached prefixes are not "
                     "evicted under load; check that --enable-prefix-caching is on after a deploy."])



DETECTOR = VllmDetector()
