"""slow_downstream and cpu_contention: the part of the latency decomposition that grew.

From ``_decompose``: a traced downstream service whose own time rose, a call's network/queue
time before a traced callee, or an untraced peer (a database, an external API) whose calls got
slower -> ``slow_downstream`` naming the callee. The entry service's own time that rose (not
GC, not the loop: those are carved out) -> ``cpu_contention``: a noisy neighbour, a CPU-bound
code path, a slower machine. A part must carry a material share of the excess, have risen in a
real share of the affected requests, and be significantly above its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._decompose import PartChange
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis._stats import Test
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    min_share: float = 0.1
    min_rose_share: float = 0.2
    min_rise_ms: float = 1.0
    max_p_value: float = 0.01
    #: a service's own time rose, but no CPU metric says whether it lost CPU or ran more code
    no_cpu_metrics_support: float = 0.7
    #: a traced callee's GC pause time that rose by this share of its calls' own-time rise, and
    #: by this ratio, is why it got slower
    callee_gc_share: float = 0.25
    callee_gc_ratio: float = 2.0
    #: own time rose while requests per second rose this much and CPU per request did not: the
    #: service is busier with more traffic (a load swing), weak evidence of a fault
    load_rise: float = 1.3
    load_support: float = 0.02


T = Thresholds()


def _test(ch: PartChange, t: Thresholds = T) -> Test | None:
    """The evidence that the part rose: per call when the part is made of calls (only the requests
    that called it), else per request; None unless significant."""
    return ch.evidence(t.max_p_value)


def _cpu_usage(ctx: Context, lo_ns: int, hi_ns: int) -> pd.DataFrame:
    """``detectors/cpu_usage`` (every service) over [lo_ns, hi_ns), read once per context: each
    service and callee a detector asks about is a row of the same result."""
    key = f"cpu_usage:{lo_ns}:{hi_ns}"
    if key not in ctx.cache:
        ctx.cache[key] = _sql.run(ctx.tel.con, "detectors/cpu_usage", lo_ns=lo_ns, hi_ns=hi_ns)
    found: pd.DataFrame = ctx.cache[key]
    return found


def _cpu_evidence(ctx: Context, service: str) -> tuple[str, float, list[Evidence]]:
    """What the CPU metrics say (instrument/runtime/_cpu.py): the host busier while the service used no
    more CPU (a noisy neighbour), or the service using more CPU per request (more code). Without
    them the finding only knows the service's own time rose: less support."""
    inc = ctx.incident
    if inc.onset_ns is None or inc.baseline_ns is None:
        return "", T.no_cpu_metrics_support, []
    now = _cpu_usage(ctx, inc.onset_ns, inc.end_ns or ctx.tel.until_ns)
    before = _cpu_usage(ctx, *inc.baseline_ns)
    a, b = now[now["service"] == service], before[before["service"] == service]
    if a.empty or b.empty:
        return "", T.no_cpu_metrics_support, []
    ev: list[Evidence] = []
    cpu_a, cpu_b = float(a["cpu_per_s"].iloc[0] or 0), float(b["cpu_per_s"].iloc[0] or 0)
    host_a, host_b = a["host_busy"].iloc[0], b["host_busy"].iloc[0]
    ev.append(Evidence("process_cpu_seconds_per_second", round(cpu_a, 3), round(cpu_b, 3)))
    text = ""
    if host_a == host_a and host_b == host_b and host_a is not None and host_b is not None:
        ev.append(Evidence("host_cpu_busy_share", round(float(host_a), 3), round(float(host_b), 3)))
        cores = float(a["host_cpus"].iloc[0]) if a["host_cpus"].iloc[0] == a["host_cpus"].iloc[0] else 1.0
        others_a, others_b = float(host_a) - cpu_a / max(1.0, cores), float(host_b) - cpu_b / max(1.0, cores)
        if others_a > others_b + 0.15:
            text = (f"; the host got busier ({float(host_b):.0%} -> {float(host_a):.0%} of its CPU) while this "
                    f"service used {cpu_b:.2f} -> {cpu_a:.2f} CPU s/s: a noisy neighbour")
            return text, 1.0, ev
    reqs_a = int((ctx.inc).sum()) / max(1e-9, ((inc.end_ns or ctx.tel.until_ns) - inc.onset_ns) / 1e9)
    reqs_b = int((ctx.base).sum()) / max(1e-9, (inc.baseline_ns[1] - inc.baseline_ns[0]) / 1e9)
    per_a, per_b = cpu_a / max(reqs_a, 1e-9), cpu_b / max(reqs_b, 1e-9)
    ev.append(Evidence("cpu_ms_per_request", round(per_a * 1e3, 2), round(per_b * 1e3, 2)))
    if per_a > 1.3 * per_b:
        return (f"; it uses {per_b * 1e3:.1f} -> {per_a * 1e3:.1f} ms of CPU per request: more work per request"), 1.0, ev
    ev.append(Evidence("requests_per_second", round(reqs_a, 2), round(reqs_b, 2)))
    if reqs_a >= T.load_rise * reqs_b:  # same CPU per request, no neighbour: more of them
        return (f"; requests per second rose {reqs_b:.1f} -> {reqs_a:.1f} with the same CPU per request: "
                "more load, not less CPU"), T.load_support, ev
    return "", T.no_cpu_metrics_support, ev


def _gc_ms(ctx: Context, service: str, lo: int, hi: int) -> float:
    """GC pause ms of ``service``'s processes in [lo, hi) (de-duplicated runtime events)."""
    ev = ctx.table("runtime_events")
    if ev.empty:
        return 0.0
    sel = ev[(ev["kind"] == "gc") & (ev["service"].astype(str) == service)
             & (ev["start_ns"] >= lo) & (ev["start_ns"] < hi)]
    return float(sel["duration_ms"].sum())


def callee_mechanism(ctx: Context, service: str, rise_ms_total: float) -> tuple[Category | None, str, float,
                                                                               list[Evidence]]:
    """Why a traced downstream service's own time (or the queue before it answers) rose, from its
    own telemetry: its GC pauses (a rise covering at least ``T.callee_gc_share`` of the calls'
    total rise ``rise_ms_total``) -> gc_pause; its CPU (more CPU per request, or a host busier
    with others) -> cpu_contention; neither -> None (it waits on something: slow_downstream).
    Returns (category, text, support, evidence)."""
    inc = ctx.incident
    if inc.onset_ns is None or inc.baseline_ns is None:
        return None, "", 1.0, []
    hi = inc.end_ns or ctx.tel.until_ns
    dur_i = max(1e-9, (hi - inc.onset_ns) / 1e9)
    dur_b = max(1e-9, (inc.baseline_ns[1] - inc.baseline_ns[0]) / 1e9)
    gc_i, gc_b = _gc_ms(ctx, service, inc.onset_ns, hi), _gc_ms(ctx, service, *inc.baseline_ns)
    gc_rise = gc_i - gc_b * dur_i / dur_b
    if gc_i > 0 and rise_ms_total > 0 and gc_rise >= T.callee_gc_share * rise_ms_total \
            and gc_i / dur_i >= T.callee_gc_ratio * gc_b / dur_b:
        ev = [Evidence("gc_pause_ms_per_second", round(gc_i / dur_i, 2), round(gc_b / dur_b, 2))]
        text = (f"; its GC pauses rose {gc_b / dur_b:.1f} -> {gc_i / dur_i:.1f} ms per second "
                f"(as much as {min(1.0, gc_rise / rise_ms_total):.0%} of the rise of its calls' own time)")
        return Category.GC_PAUSE, text, 1.0, ev
    cpu_txt, cpu_support, cpu_ev = _cpu_evidence(ctx, service)
    if cpu_txt and cpu_support >= 1.0:  # a neighbour, or more CPU per request (not: more load)
        return Category.CPU_CONTENTION, cpu_txt, cpu_support, cpu_ev
    return None, "", 1.0, cpu_ev


class DependencyDetector:
    name = "dependency"
    categories = (Category.SLOW_DOWNSTREAM, Category.CPU_CONTENTION)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        dec = ctx.parts()
        out: list[Finding] = []
        entry = set(map(str, np.unique(dec.entry))) if len(dec.entry) else set()
        for ch in dec.changes:
            if ch.role not in ("self", "net", "dep", "queue") or not self._material(ch):
                continue
            f = self._finding(ctx, dec, ch, own=ch.role == "queue" or (ch.role == "self" and ch.entity in entry))
            if f is not None:
                out.append(f)
        return out

    def _material(self, ch: PartChange) -> bool:
        return (ch.share >= self.t.min_share and ch.rose_share >= self.t.min_rose_share
                and ch.incident_ms - ch.baseline_ms >= self.t.min_rise_ms and _test(ch) is not None)

    def _finding(self, ctx: Context, dec: object, ch: PartChange, *, own: bool) -> Finding | None:
        n = len(ctx.requests)
        col = dec.column(ch.part, n)  # type: ignore[attr-defined]
        sampled = dec.sampled(n)  # type: ignore[attr-defined]
        base_mean = ch.baseline_ms
        active = sampled & ctx.inc & (col > base_mean + self.t.min_rise_ms)
        rise = np.clip(col - base_mean, 0, None)
        more_calls = ch.calls_baseline > 0 and ch.calls_incident >= 1.5 * ch.calls_baseline
        per_call = (f"{ch.per_call_baseline_ms:.1f} -> {ch.per_call_incident_ms:.1f} ms per call, "
                    f"{ch.calls_baseline:.1f} -> {ch.calls_incident:.1f} calls per request"
                    if ch.role in ("net", "dep") else f"{ch.baseline_ms:.1f} -> {ch.incident_ms:.1f} ms per request")
        evidence = [
            Evidence(f"{ch.part}_ms_per_request", round(ch.incident_ms, 2), round(ch.baseline_ms, 2),
                     ctx.exemplars(active)),
            Evidence("affected_requests_where_it_rose_share", round(ch.rose_share, 3), None),
            Evidence("share_of_p99_excess", round(ch.share, 3), None),
        ]
        if ch.role in ("net", "dep"):
            evidence.append(Evidence("calls_per_request", round(ch.calls_incident, 2), round(ch.calls_baseline, 2)))
            evidence.append(Evidence("ms_per_call", round(ch.per_call_incident_ms, 2), round(ch.per_call_baseline_ms, 2)))
        if own:
            cpu_txt, cpu_support, cpu_ev = _cpu_evidence(ctx, ch.entity)
            evidence.extend(cpu_ev)
            what = "its own code" if ch.role == "self" else "queue before it reads them"
            cause = Cause(Category.CPU_CONTENTION, ch.entity, "service", f"{what}: {per_call}{cpu_txt}",
                          f"Service '{ch.entity}': requests spend more time in {what}: {per_call} "
                          f"({ch.share:.0%} of the P99 excess){cpu_txt}", ch.part, active, ch.share, _test(ch),
                          support=min(1.0, ch.rose_share / 0.5) * cpu_support, service=ch.entity)
            return finding(ctx, cause, evidence=evidence, counterfactual_ms=rise, remediation=[
                "Look for a CPU-hungry neighbour on the host (top, container CPU throttling) or a code path "
                "that became CPU-bound (a profile of the slow period: py-spy).",
                "Give the service dedicated cores / a CPU limit that matches its load; scale out."],
                chain=[f"service {ch.entity} own time", "CPU contention", "P99"])
        if ch.role in ("self", "net"):  # a traced callee: its own telemetry may say why
            inc_s = sampled & ctx.inc  # the sampled incident requests' rise, scaled to all of them
            rise_total = float(rise[inc_s].sum()) * int(ctx.inc.sum()) / max(1, int(inc_s.sum()))
            category, why, support, mech_ev = callee_mechanism(ctx, ch.entity, rise_total)
            if category is not None:
                evidence.extend(mech_ev)
                where = "its own time" if ch.role == "self" else "its queue before it answers"
                label = "GC pauses" if category == Category.GC_PAUSE else "CPU"
                cause = Cause(category, ch.entity, "service", f"{where}: {per_call}{why}",
                              f"Service '{ch.entity}' got slower ({label}): {where} {per_call}, "
                              f"{ch.share:.0%} of the P99 excess{why}", ch.part, active, ch.share, _test(ch),
                              support=min(1.0, ch.rose_share / 0.5) * support, service=ch.entity)
                return finding(ctx, cause, evidence=evidence, counterfactual_ms=rise, remediation=[
                    f"Profile '{ch.entity}' over the slow period: " + (
                        "what allocates the objects its gen-2 collections scan (reference cycles, caches "
                        "that keep graphs alive); gc.freeze() after start-up, fewer long-lived objects."
                        if category == Category.GC_PAUSE else
                        "a code path that became CPU-bound, or a neighbour taking its cores (py-spy, "
                        "container CPU throttling).")],
                    chain=[f"service {ch.entity}", label, "calls to it", "P99"])
        where = {"self": "its own time", "net": "the network / its queue before it answers",
                 "dep": "its calls"}[ch.role]
        what = "more calls to it (a cache or retry change upstream?)" if more_calls else where
        cause = Cause(Category.SLOW_DOWNSTREAM, ch.entity, "dependency", per_call,
                      f"Downstream '{ch.entity}' got slower ({what}): {per_call}, "
                      f"{ch.share:.0%} of the P99 excess", ch.part, active, ch.share, _test(ch),
                      support=min(1.0, ch.rose_share / 0.5),
                      service=ch.entity if ch.role in ("self", "net") else None)
        return finding(ctx, cause, evidence=evidence, counterfactual_ms=rise, remediation=[
            f"Fix or scale '{ch.entity}' (its own slow operations: an unindexed query, a hot partition, "
            "a saturated host); add a timeout and a fallback; cache its answers."],
            chain=[f"dependency {ch.entity}", "slow calls on the critical path", "P99"])


DETECTOR = DependencyDetector()

__all__ = ["DETECTOR", "DependencyDetector", "Thresholds", "callee_mechanism"]
