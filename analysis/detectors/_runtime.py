"""gc_pause and event_loop_block: requests stalled by the Python runtime itself.

From ``_decompose``: the GC pause time and the event-loop blocked time carved out of the spans
they stalled, plus the time requests queued before their span started because the loop was
blocked (``infersight.loop.queued_ms``). A finding needs that time to have risen against the
baseline and to carry a material share of the excess. GC names where the garbage came from (a
job whose runs hold the pauses, else the route that saw most of them); the loop names what
blocked it (the job recorded on the ``event_loop.blocked`` spans, a job whose runs cover the
blocks, else the blocking stack's top frame) and compares client-seen with server-seen P99.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _intervals
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._decompose import PartChange
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    min_share: float = 0.1
    min_rose_share: float = 0.05
    max_p_value: float = 0.01
    #: share of the pause/block time inside a job's runs that names the job as its source
    source_share: float = 0.5
    #: a job's garbage is collected, and its queued requests drain, shortly after a run ends
    grace_ns: int = 500_000_000


T = Thresholds()


def events(ctx: Context, kind: str, *, incident_only: bool = True) -> pd.DataFrame:
    ev = ctx.table("runtime_events")
    ev = ev[ev["kind"] == kind]
    if incident_only and ctx.incident.onset_ns is not None:
        ev = ev[(ev["end_ns"] > ctx.incident.onset_ns) & (ev["start_ns"] < (ctx.incident.end_ns or ctx.tel.until_ns))]
    return ev


def job_covering(ctx: Context, ev: pd.DataFrame, t: Thresholds = T) -> tuple[str, float]:
    """(job, share of the events' time inside that job's runs) for the job covering most of it."""
    jobs = ctx.table("jobs")
    if ev.empty or jobs.empty:
        return "", 0.0
    iv = (ev["start_ns"].to_numpy(dtype=np.int64), ev["end_ns"].to_numpy(dtype=np.int64))
    best = ("", 0.0)
    for job, g in jobs.groupby("job"):
        runs = (g["start_ns"].to_numpy(dtype=np.int64), g["end_ns"].to_numpy(dtype=np.int64) + t.grace_ns)
        share = _intervals.covered_share(iv, runs)
        if share > best[1]:
            best = (str(job), share)
    return best


def _material(ch: PartChange | None, t: Thresholds) -> bool:
    return (ch is not None and ch.share >= t.min_share and ch.rose_share >= t.min_rose_share
            and ch.evidence(t.max_p_value) is not None)


def _rate_per_min(ev: pd.DataFrame, lo: int | None, hi: int | None) -> float:
    if lo is None or hi is None or hi <= lo:
        return 0.0
    n = int(((ev["start_ns"] >= lo) & (ev["start_ns"] < hi)).sum())
    return n / ((hi - lo) / 60e9)


class GcDetector:
    name = "gc_pause"
    categories = (Category.GC_PAUSE,)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        dec = ctx.parts()
        ch = dec.change("gc")
        if not _material(ch, self.t):
            return []
        assert ch is not None
        n = len(ctx.requests)
        col = dec.column("gc", n)
        active = dec.sampled(n) & ctx.inc & (col > ch.baseline_ms + 1.0)
        ev = events(ctx, "gc")
        all_ev = events(ctx, "gc", incident_only=False)
        big = all_ev[all_ev["duration_ms"] >= 5.0]
        inc = ctx.incident
        base_lo, base_hi = inc.baseline_ns or (None, None)
        rate_in = _rate_per_min(big, inc.onset_ns, inc.end_ns)
        rate_base = _rate_per_min(big, base_lo, base_hi)
        job, job_share = job_covering(ctx, ev, self.t)
        services = ev["service"].value_counts() if not ev.empty else pd.Series(dtype=int)
        service = str(services.index[0]) if len(services) else None
        if job and job_share >= self.t.source_share:
            source = f"job {job}"
        else:
            routes = ctx.requests["route"].astype(str).to_numpy()
            by_route = pd.Series(col[active]).groupby(routes[active]).sum()
            source = f"route {by_route.idxmax()}" if len(by_route) and by_route.max() > 0 else "python gc"
        longest = float(ev["duration_ms"].max()) if not ev.empty else 0.0
        cause = Cause(Category.GC_PAUSE, source, "runtime",
                      f"pauses >= 5 ms {rate_base:.1f} -> {rate_in:.1f}/min, up to {longest:.0f} ms",
                      f"GC pauses rose ({ch.baseline_ms:.1f} -> {ch.incident_ms:.1f} ms per slow request) and "
                      f"explain {ch.share:.0%} of the P99 excess (allocations from {source})",
                      "gc", active, ch.share, ch.evidence(self.t.max_p_value), support=min(1.0, 0.5 + 0.5 * float(rate_in > 1.5 * rate_base)),
                      service=service)
        evidence = [
            Evidence("gc_pause_ms_per_affected_request", round(ch.incident_ms, 2), round(ch.baseline_ms, 2),
                     ctx.exemplars(active)),
            Evidence("gc_pauses_over_5ms_per_minute", round(rate_in, 2), round(rate_base, 2)),
            Evidence("longest_pause_ms", round(longest, 1), None),
        ]
        if job:
            evidence.append(Evidence("gc_time_inside_job_runs_share", round(job_share, 3), None))
        return [finding(ctx, cause, evidence=evidence, counterfactual_ms=np.clip(col - ch.baseline_ms, 0, None),
                        remediation=[
                            "Stop building large object graphs per call where the allocations come from (the job "
                            "or route named): stream, reuse buffers, keep data in arrays instead of dicts.",
                            "gc.freeze() after start-up; raise gc thresholds (gc.set_threshold) for long-lived heaps."],
                        chain=[source, "allocations -> gen-2 GC pauses", "P99"])]


def _top_frame(stack: str) -> str:
    """The innermost 'File ..., line N, in func' of a formatted stack, as 'func (file:line)'."""
    lines = [ln.strip() for ln in str(stack).splitlines() if ln.strip().startswith("File ")]
    for ln in reversed(lines):
        if "asyncio" in ln or "site-packages" in ln or "/infersight/instrument" in ln:
            continue
        try:
            file_part, line_part, func_part = ln.split(", ", 2)
            return f"{func_part.removeprefix('in ')} ({file_part[6:-1].rsplit('/', 1)[-1]}:{line_part[5:]})"
        except ValueError:
            return ln
    return ""


class LoopDetector:
    name = "event_loop_block"
    categories = (Category.EVENT_LOOP_BLOCK,)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        dec = ctx.parts()
        ch = dec.change("loop")
        if not _material(ch, self.t):
            return []
        assert ch is not None
        n = len(ctx.requests)
        col = dec.column("loop", n)
        active = dec.sampled(n) & ctx.inc & (col > ch.baseline_ms + 1.0)
        ev = events(ctx, "loop")
        entity, how = self._blocker(ctx, ev)
        services = ev["service"].value_counts() if not ev.empty else pd.Series(dtype=int)
        service = str(services.index[0]) if len(services) else None
        blocked_ms = _intervals.total((ev["start_ns"].to_numpy(dtype=np.int64), ev["end_ns"].to_numpy(dtype=np.int64))) / 1e6
        queued = ctx.requests["queued_ms"].to_numpy()
        evidence = [
            Evidence("loop_ms_per_affected_request", round(ch.incident_ms, 2), round(ch.baseline_ms, 2),
                     ctx.exemplars(active)),
            Evidence("loop_blocks_in_incident", int(len(ev)), None),
            Evidence("loop_blocked_ms_in_incident", round(blocked_ms, 1), None),
            Evidence("longest_block_ms", round(float(ev["duration_ms"].max()), 1) if not ev.empty else None, None),
            Evidence("requests_queued_before_start", int((queued[ctx.inc] > 0).sum()), None),
        ]
        client = ctx.requests["client_ms"].to_numpy(dtype=float)
        has_client = ctx.inc & ~np.isnan(client)
        if has_client.sum() >= 20:
            evidence.append(Evidence("client_seen_p99_ms", round(float(np.quantile(client[has_client], 0.99)), 1),
                                     round(float(np.quantile(ctx.requests["duration_ms"].to_numpy()[has_client], 0.99)), 1)))
        stack = ev["stack"].dropna() if "stack" in ev else pd.Series(dtype=object)
        if len(stack):
            evidence.append(Evidence("blocking_stack", str(stack.iloc[-1])[-1500:], None))
        cause = Cause(Category.EVENT_LOOP_BLOCK, entity, "job" if how == "job" else "code",
                      f"event loop blocked {blocked_ms / 1e3:.1f} s in {len(ev)} block(s) "
                      f"(longest {float(ev['duration_ms'].max()) if not ev.empty else 0:.0f} ms)",
                      f"Event loop blocked by {entity}: requests wait {ch.baseline_ms:.1f} -> {ch.incident_ms:.1f} ms "
                      f"each, {ch.share:.0%} of the P99 excess", "loop", active, ch.share, ch.evidence(self.t.max_p_value),
                      support=1.0 if not ev.empty else 0.6, service=service)
        return [finding(ctx, cause, evidence=evidence, counterfactual_ms=np.clip(col - ch.baseline_ms, 0, None),
                        remediation=["Move CPU-bound or blocking work off the loop: await asyncio.to_thread(...) "
                                     "or a process pool; use async clients for I/O."],
                        chain=[entity, "event loop blocked -> requests queued", "P99"])]

    def _blocker(self, ctx: Context, ev: pd.DataFrame) -> tuple[str, str]:
        if not ev.empty and "job" in ev and ev["job"].notna().any():
            named = ev.dropna(subset=["job"]).groupby("job")["duration_ms"].sum()
            if named.sum() >= self.t.source_share * ev["duration_ms"].sum():
                return str(named.idxmax()), "job"
        job, share = job_covering(ctx, ev, self.t)
        if job and share >= self.t.source_share:
            return job, "job"
        stacks = ev["stack"].dropna() if "stack" in ev else pd.Series(dtype=object)
        frame = _top_frame(str(stacks.iloc[-1])) if len(stacks) else ""
        if frame:
            return frame, "stack"
        return "blocking code on the event loop", "unknown"


GC = GcDetector()
LOOP = LoopDetector()

__all__ = ["GC", "LOOP", "GcDetector", "LoopDetector", "Thresholds", "events", "job_covering"]
