"""periodic_job_interference: a background job whose runs changed and make requests slow.

Jobs are traces started by a scheduler (root spans that are not requests, or spans carrying
``infersight.job.name``). A job is a root cause only when (a) its runs *changed* against the
baseline (new, longer net of GC pauses, more rows) - a job that ran the same way while latency
was fine is not what broke - and (b) the incident's slow requests crowd into its runs: one-sided
binomial test of the affected requests that arrived during a run (or just after) against the
share of incident requests that did. The path the damage takes is the decomposition part that
rose most in those requests (GC, the event loop, the pool, a shared dependency, the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _intervals
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis._stats import Test, binomial_excess
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    #: GC debt and queued requests drain shortly after a run ends
    grace_ns: int = 500_000_000
    #: a job whose runs take less than this (net of GC pauses) does too little work to disturb requests
    min_net_run_ms: float = 50.0
    #: a run that got this much longer (or moved this many more rows) is a changed job
    changed_ratio: float = 1.5
    max_p_value: float = 0.01
    #: the incident inside the runs: the runs may cover at most this share of the range
    max_duty: float = 0.25
    #: runs that take in this share of the incident's requests contain the incident
    covers_incident: float = 0.9
    min_share: float = 0.1
    #: a period is regular when the gaps' coefficient of variation is below this
    periodic_cv: float = 0.35


    def max_p_value_for(self, test: str) -> float:
        return self.max_duty if test == "incident_inside_job_runs" else self.max_p_value


T = Thresholds()

_PATH_TEXT = {"gc": "allocations -> gen-2 GC pauses", "loop": "event loop blocked -> requests queued",
              "self": "CPU taken from requests", "pool": "connection pool waits", "dep": "a shared dependency slowed",
              "net": "a shared dependency slowed", "queue": "requests queue before the server reads them"}


def path_text(part: str) -> str:
    role, _, entity = part.partition(":")
    text = _PATH_TEXT.get(role, part.replace(":", " "))
    return f"{text} ({entity})" if entity and role in ("pool", "dep", "net") else text


def _net_ms(runs: pd.DataFrame, gc: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Run durations minus the GC pauses inside them (a stop-the-world pause stretches every span)."""
    s = runs["start_ns"].to_numpy(dtype=np.int64)
    e = runs["end_ns"].to_numpy(dtype=np.int64)
    return np.asarray((e - s - _intervals.overlap_ns(gc, s, e)) / 1e6, dtype=float)


def _pathway(ctx: Context, during: np.ndarray) -> list[tuple[str, float, float]]:
    """The decomposition parts that rose in the affected requests that arrived during runs, most
    first: (part, mean ms then, mean ms in the baseline), those within a third of the largest rise."""
    dec = ctx.parts()
    n = len(ctx.requests)
    sel = dec.sampled(n) & during & ctx.affected()
    base = dec.sampled(n) & ctx.base
    if not sel.any() or not base.any():
        return []
    rises = []
    for part in dec.parts.columns:
        col = dec.column(str(part), n)
        a, b = float(col[sel].mean()), float(col[base].mean())
        if a - b > 1.0:
            rises.append((str(part), a, b))
    rises.sort(key=lambda x: -(x[1] - x[2]))
    return [r for r in rises if r[1] - r[2] >= (rises[0][1] - rises[0][2]) / 3] if rises else []


class JobDetector:
    name = "periodic_job_interference"
    categories = (Category.PERIODIC_JOB_INTERFERENCE,)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        jobs = ctx.table("jobs")
        inc = ctx.incident
        if jobs.empty or inc.onset_ns is None:
            return []
        ev = ctx.table("runtime_events")
        gc = ev[ev["kind"] == "gc"]
        gc_iv = (gc["start_ns"].to_numpy(dtype=np.int64), gc["end_ns"].to_numpy(dtype=np.int64))
        out = []
        for job, runs in jobs.groupby("job"):
            f = self._one(ctx, str(job), runs.sort_values("start_ns"), gc_iv)
            if f is not None:
                out.append(f)
        return out

    def _one(self, ctx: Context, job: str, runs: pd.DataFrame, gc_iv: tuple[np.ndarray, np.ndarray]) -> Finding | None:
        inc, t = ctx.incident, self.t
        end = inc.end_ns or ctx.tel.until_ns
        in_inc = runs[(runs["end_ns"] > inc.onset_ns) & (runs["start_ns"] < end)]
        if in_inc.empty:
            return None
        lo, hi = inc.baseline_ns or (0, 0)
        in_base = runs[(runs["end_ns"] > lo) & (runs["start_ns"] < hi)]
        net_inc = float(_net_ms(in_inc, gc_iv).mean())
        loop_named = self._named_on_loop_blocks(ctx, job)
        if net_inc < t.min_net_run_ms and not loop_named:
            return None
        changed, how = self._changed(in_inc, in_base, net_inc, gc_iv)
        starts = in_inc["start_ns"].to_numpy(dtype=np.int64)
        ends = in_inc["end_ns"].to_numpy(dtype=np.int64)
        during = _intervals.contains((starts, ends), ctx.requests["start_ns"].to_numpy(), grace_ns=t.grace_ns) & ctx.inc
        aff = ctx.affected()
        n_aff, k = int(aff.sum()), int((aff & during).sum())
        p0 = float(during.sum() / max(1, int(ctx.inc.sum())))
        if n_aff < 5 or k < 3 or p0 <= 0.0:
            return None
        if p0 >= t.covers_incident:
            # the incident lies inside the job's runs: how likely is that by chance? The share of
            # the analysed range the runs cover (their duty cycle) is the chance an onset falls in one
            lo, hi = ctx.tel.range_since_ns, ctx.tel.until_ns
            run_iv = (runs["start_ns"].to_numpy(dtype=np.int64), runs["end_ns"].to_numpy(dtype=np.int64) + t.grace_ns)
            duty = _intervals.total(_intervals.clip(run_iv, lo, hi)) / max(1, hi - lo)
            p_value, effect = float(min(1.0, duty)), float(1.0 - duty)
            test = Test("incident_inside_job_runs", p_value, effect, n_aff, int(ctx.inc.sum()))
        else:
            p_value = binomial_excess(k, n_aff, p0)
            effect = (k / n_aff - p0) / (1.0 - p0)
            test = Test("binomial_slow_requests_in_runs", p_value, effect, n_aff, int(ctx.inc.sum()))
        share = ctx.excess_share(during)
        if p_value > t.max_p_value_for(test.name) or effect <= 0 or share < t.min_share:
            return None
        parts = _pathway(ctx, during)
        part = parts[0][0] if parts else ""
        path = path_text(part) if part else "requests slowed"
        gaps = np.diff(runs["start_ns"].to_numpy(dtype=np.int64)) / 1e9
        periodic = len(gaps) >= 2 and float(np.std(gaps) / max(np.mean(gaps), 1e-9)) < t.periodic_cv
        period = f"every {float(np.median(gaps)):.0f} s" if periodic else f"{len(in_inc)} run(s)"
        rows = in_inc["rows"].dropna() if "rows" in in_inc else pd.Series(dtype=float)
        rows_txt = f", {float(rows.mean()):,.0f} rows per run" if len(rows) and rows.mean() > 0 else ""
        p99_in, p99_out = ctx.p99(during), ctx.p99(ctx.inc & ~during)
        if (ctx.inc & ~during).sum() < 5:  # the runs hold the whole incident: compare with the baseline
            p99_out = ctx.p99(ctx.base)
        service = str(runs["service"].iloc[0]) if "service" in runs else None
        support = (1.0 if changed else 0.35) * (1.0 if periodic else 0.85)
        evidence = [
            Evidence("p99_while_job_runs_ms", round(p99_in, 1), round(p99_out, 1), ctx.exemplars(during)),
            Evidence("affected_requests_inside_runs_share", round(k / n_aff, 3), round(p0, 3)),
            Evidence("job_runs", int(len(in_inc)), int(len(in_base)), [str(x) for x in in_inc["trace_id"].head(3)]),
            Evidence("job_net_run_ms", round(net_inc, 1),
                     round(float(_net_ms(in_base, gc_iv).mean()), 1) if len(in_base) else None),
        ]
        for p, in_ms, base_ms in parts:
            evidence.append(Evidence(f"{p}_ms_per_request_while_job_runs", round(in_ms, 2), round(base_ms, 2)))
        if periodic:
            evidence.append(Evidence("job_period_s", round(float(np.median(gaps)), 2), None))
        cause = Cause(Category.PERIODIC_JOB_INTERFERENCE, job, "job",
                      f"runs {period}, {net_inc / 1e3:.2f} s each{rows_txt} ({how})",
                      f"Job '{job}' ({period}) slows requests through {path}: P99 {p99_out:.0f} -> {p99_in:.0f} ms "
                      f"while it runs", part or "job", during, share, test, support=support, service=service,
                      start_ns=int(starts.min()), end_ns=int(ends.max()))
        f = finding(ctx, cause, evidence=evidence, chain=[f"job {job} ({period}{rows_txt})", path,
                                                         f"P99 {p99_out:.0f} -> {p99_in:.0f} ms while it runs"],
                    remediation=[
                        "Make the job incremental (sync by updated-at timestamp) instead of a full pull.",
                        "Stream rows in batches instead of materialising them; move CPU-bound work off the event "
                        "loop (asyncio.to_thread) or out of the serving process.",
                        "Serve lookups from an LRU / second-level cache."])
        f.windows = list(zip(starts.tolist(), ends.tolist(), strict=True))
        return f

    def _changed(self, inc: pd.DataFrame, base: pd.DataFrame, net_inc: float,
                 gc_iv: tuple[np.ndarray, np.ndarray]) -> tuple[bool, str]:
        if base.empty:
            return True, "new: no runs in the baseline"
        net_base = float(_net_ms(base, gc_iv).mean())
        if net_inc >= self.t.changed_ratio * max(net_base, 1.0):
            return True, f"runs {net_base:.0f} -> {net_inc:.0f} ms"
        rows_i = float(inc["rows"].mean()) if "rows" in inc and inc["rows"].notna().any() else 0.0
        rows_b = float(base["rows"].mean()) if "rows" in base and base["rows"].notna().any() else 0.0
        if rows_i >= self.t.changed_ratio * max(rows_b, 1.0) and rows_i > 0:
            return True, f"rows per run {rows_b:,.0f} -> {rows_i:,.0f}"
        return False, "runs unchanged since the baseline"

    @staticmethod
    def _named_on_loop_blocks(ctx: Context, job: str) -> bool:
        ev = ctx.table("runtime_events")
        return bool("job" in ev and (ev["job"] == job).any())


DETECTOR = JobDetector()

__all__ = ["DETECTOR", "JobDetector", "Thresholds"]
