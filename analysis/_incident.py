"""Is there an incident? The symptom gate every diagnosis starts with.

A finding is a *change*: the requests of some stretch of time are slower (or fail more) than
the same request types in a baseline before it. This module finds that stretch and its
baseline:

1. Each request is marked *slow* when it is above its request type's 75th / 95th percentile
   (errors are left out of latency: a fast 500 must not set the baseline), and *failed* when
   its status is an error.
2. A Bernoulli scan over time steps finds the contiguous run of steps where slow (or failed)
   requests are most raised above the rest (``_stats.scan``, Bonferroni-corrected over every
   segment it looked at). With ``--baseline`` or a ``--since`` that has data before it, the
   comparison is that baseline instead of "the rest".
3. The onset is the run's first step; the baseline is the same length of time just before it
   (after the run's end when the data starts with the incident), never a warm-up.
4. The change must be significant *and* material: P99 (per request type, then pooled on a
   per-type-normalised scale) up by a fifth and a few ms, or the error ratio doubled and up a
   point. Otherwise: "no incident found", and the detectors report nothing above low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from infersight.analysis._finding import iso
from infersight.analysis._stats import Segment, as_bool, cluster, codes, extend, mann_whitney, scan


@dataclass(frozen=True)
class GateThresholds:
    #: steps: about this many over the range, between min and max length
    target_steps: int = 120
    min_step_ns: int = 1_000_000_000
    max_step_ns: int = 60_000_000_000
    #: a step needs this many requests on average, else steps are widened
    min_per_step: float = 5.0
    min_steps: int = 3
    #: requests a side needs before a P99 or a rate is compared
    min_requests: int = 20
    #: a request type needs this many requests for its own percentiles (else the pooled scale)
    min_type_requests: int = 30
    tail_quantiles: tuple[float, ...] = (0.75, 0.95)
    max_p_value: float = 1e-3
    #: latency change that is material: P99 ratio and absolute rise
    min_p99_ratio: float = 1.2
    min_p99_delta_ms: float = 5.0
    #: share of incident requests above their type's baseline P99 that is material (1 % = no change)
    min_exceedance: float = 0.05
    #: error change that is material
    min_error_ratio: float = 2.0
    min_error_delta: float = 0.01
    min_errors: int = 5
    #: a baseline spans at least this much time when the data has it (a short burst's baseline
    #: of the same length would be a handful of requests)
    min_baseline_ns: int = 30_000_000_000
    #: a service's own failing / slow share of calls must rise by this much
    min_service_rise: float = 0.05
    #: bursts this close together are one incident (periodic damage: a job, a TTL)
    burst_gap_ns: int = 20_000_000_000
    #: a slow stretch that starts with a process and lasts less than this is its warm-up
    warmup_regime_ns: int = 60_000_000_000
    #: the service-by-service gate also tests each service's own time (not only the failures that
    #: start in it); off: only a user-facing SLI (entry requests' latency/errors) or failures open
    #: an incident
    service_latency: bool = True


GATE = GateThresholds()


@dataclass
class TypeStats:
    route: str
    n_baseline: int
    n_incident: int
    p99_baseline_ms: float | None
    p99_incident_ms: float | None
    error_ratio_baseline: float
    error_ratio_incident: float


@dataclass
class Incident:
    found: bool
    reason: str
    sli: str = "latency"
    #: whose SLI changed: "requests" (the entry requests) or "service <name>" (a service's own
    #: calls: its spans' own time or the failures that start in it)
    scope: str = "requests"
    onset_ns: int | None = None
    end_ns: int | None = None
    baseline_ns: tuple[int, int] | None = None
    baseline_source: str = "auto"
    step_ns: int = 1_000_000_000
    scan_p_value: float | None = None
    test: dict[str, Any] = field(default_factory=dict)
    p99_baseline_ms: float | None = None
    p99_observed_ms: float | None = None
    error_ratio_baseline: float | None = None
    error_ratio_observed: float | None = None
    #: share of incident requests above their type's baseline P99, and the per-type-normalised P99 ratio
    exceedance: float | None = None
    p99_ratio: float | None = None
    types: list[TypeStats] = field(default_factory=list)
    incident_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    baseline_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    #: the slow stretch found is the process's warm-up (the reason says so in words)
    warmup_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "found": self.found, "reason": self.reason, "sli": self.sli, "scope": self.scope,
            "onset": iso(self.onset_ns), "end": iso(self.end_ns),
            "baseline": {"start": iso(self.baseline_ns[0]) if self.baseline_ns else None,
                         "end": iso(self.baseline_ns[1]) if self.baseline_ns else None,
                         "source": self.baseline_source,
                         "p99_ms": _r(self.p99_baseline_ms), "error_ratio": _r(self.error_ratio_baseline, 4)},
            "observed": {"p99_ms": _r(self.p99_observed_ms), "error_ratio": _r(self.error_ratio_observed, 4),
                         "above_baseline_p99_share": _r(self.exceedance, 4), "p99_ratio": _r(self.p99_ratio, 3)},
            "scan_p_value": self.scan_p_value, "test": self.test,
            "request_types": [{**t.__dict__, "p99_baseline_ms": _r(t.p99_baseline_ms),
                               "p99_incident_ms": _r(t.p99_incident_ms),
                               "error_ratio_baseline": _r(t.error_ratio_baseline, 4),
                               "error_ratio_incident": _r(t.error_ratio_incident, 4)} for t in self.types],
        }


def _r(v: float | None, nd: int = 1) -> float | None:
    return None if v is None or v != v else round(float(v), nd)


def _p99(x: np.ndarray) -> float | None:
    return float(np.quantile(x, 0.99)) if len(x) else None


def choose_step(start_ns: np.ndarray, g: GateThresholds = GATE) -> int:
    if len(start_ns) < 2:
        return g.min_step_ns
    span = int(start_ns.max() - start_ns.min()) + 1
    step = int(min(g.max_step_ns, max(g.min_step_ns, span // g.target_steps)))
    while step < g.max_step_ns and len(start_ns) / max(1, span // step) < g.min_per_step:
        step *= 2
    return min(step, g.max_step_ns)


def _normalised(req: pd.DataFrame, ok: np.ndarray, g: GateThresholds) -> np.ndarray:
    """Latency / the request type's median (over ``ok`` requests); types with few requests use
    the pooled median."""
    lat = req["latency_ms"].to_numpy(dtype=float)
    routes = codes(req["route"])
    med = pd.Series(lat[ok]).groupby(routes[ok]).median()
    counts = pd.Series(lat[ok]).groupby(routes[ok]).size()
    pooled = float(np.median(lat[ok])) if ok.any() else 1.0
    table = np.full(int(routes.max(initial=0)) + 2, pooled)
    keep = med.where(counts >= g.min_type_requests).dropna()
    table[keep.index.to_numpy(dtype=np.int64)] = keep.to_numpy()
    scale = table[routes]
    return lat / np.maximum(scale, 1e-6)


def _tail_flags(norm: np.ndarray, ok: np.ndarray, q: float) -> np.ndarray:
    cut = float(np.quantile(norm[ok], q)) if ok.any() else np.inf
    return ok & (norm > cut)


def _counts(bucket: np.ndarray, flags: np.ndarray, use: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.bincount(bucket[use & flags], minlength=t)[:t]
    n = np.bincount(bucket[use], minlength=t)[:t]
    return k.astype(float), n.astype(float)


WARMUP_REASON = "only the service's first minute is slower (warm-up), nothing changed after"


def detect(req: pd.DataFrame, *, window_ns: int, until_ns: int, explicit_since: bool,
           baseline: tuple[int, int] | None = None, g: GateThresholds = GATE) -> Incident:
    """Find the incident in ``req`` (columns route, start_ns, latency_ms, is_error, warmup; optional
    fresh: the first seconds of a process instance that started with the data).

    A slow stretch at the start of the data, right after the process started, is its warm-up
    (cold caches, lazy loading) even when what follows it is slower still (a fault soon after the
    start makes the warm-up look ordinary to the warm-up check): those requests are marked warm-up
    (``req["warmup"]`` is updated) and the rest is looked at again, once."""
    inc = _detect(req, window_ns=window_ns, until_ns=until_ns, explicit_since=explicit_since, baseline=baseline, g=g)
    if not inc.warmup_only or inc.end_ns is None:
        return inc
    warm = req["warmup"].to_numpy(dtype=bool) | (req["start_ns"].to_numpy(dtype=np.int64) < inc.end_ns)
    if "fresh" in req.columns:  # and the rest of the instance's first seconds: still warming up
        warm |= req["fresh"].to_numpy(dtype=bool)
    req["warmup"] = warm
    again = _detect(req, window_ns=window_ns, until_ns=until_ns, explicit_since=explicit_since, baseline=baseline,
                    g=g)
    if not again.found and again.onset_ns is None:
        again.reason = f"{WARMUP_REASON}; after it: {again.reason}"
    return again


def _detect(req: pd.DataFrame, *, window_ns: int, until_ns: int, explicit_since: bool,
            baseline: tuple[int, int] | None, g: GateThresholds) -> Incident:
    n = len(req)
    empty = np.zeros(n, dtype=bool)
    usable = ~req["warmup"].to_numpy(dtype=bool)
    start = req["start_ns"].to_numpy(dtype=np.int64)
    if usable.sum() < 2 * g.min_requests:
        return Incident(False, f"too few requests to compare ({int(usable.sum())})", incident_mask=empty,
                        baseline_mask=empty)
    is_err = as_bool(req["is_error"])
    ok = usable & ~is_err
    step = choose_step(start[usable], g)
    t0 = int(start[usable].min())
    bucket = ((start - t0) // step).clip(0).astype(np.int64)
    t = int(bucket[usable].max()) + 1
    norm = _normalised(req, ok, g)

    # where a segment may lie and what it is compared with
    source = "auto"
    base_use: np.ndarray | None = None
    lo_min = 0
    if baseline is not None:
        source = "explicit"
        base_use = usable & (start >= baseline[0]) & (start < baseline[1])
        lo_min = int(max(0, (max(window_ns, baseline[1]) - t0) // step))
    elif explicit_since:
        length = until_ns - window_ns
        before = usable & (start < window_ns) & (start >= window_ns - length)
        if before.sum() >= g.min_requests:
            source = "before_window"
            base_use = before
            lo_min = int(max(0, (window_ns - t0) // step))
    seg_use = usable.copy()
    if base_use is not None:
        seg_use &= ~base_use & (start >= window_ns)

    series: list[tuple[str, np.ndarray, np.ndarray]] = []
    for q in g.tail_quantiles:
        series.append((f"latency_q{int(q * 100)}", _tail_flags(norm, ok, q), ok))
    if is_err[usable].sum() >= g.min_errors:
        series.append(("errors", is_err & usable, usable))
    found: list[tuple[str, Segment, np.ndarray, np.ndarray]] = []
    for name, flags, use in series:
        k, nn = _counts(bucket, flags, use & seg_use, t)
        outside = None
        if base_use is not None:
            outside = (int((flags & use & base_use).sum()), int((use & base_use).sum()))
        seg = scan(k, nn, min_steps=g.min_steps, min_n=g.min_requests, lo_min=min(lo_min, t - 1), outside=outside)
        if seg is not None:
            found.append((name, seg, k, nn))
    if not found:
        return Incident(False, "no stretch of time differs from the rest", step_ns=step, baseline_source=source,
                        incident_mask=empty, baseline_mask=empty)
    # the series with the strongest evidence places the incident: the 95th-percentile series for
    # damage in the tail, the 75th for a change that slows many requests (their 95th percentile is
    # set by the change itself), errors when failures changed most; a burst is grown to the whole
    # incident below (extend, cluster)
    candidates = [_candidate(f, req, norm, ok, is_err, start, usable, seg_use, base_use, source, lo_min, t0, step,
                             until_ns, g) for f in sorted(found, key=lambda f: f[1].p_value)]
    return next((c for c in candidates if c.found), candidates[0])


def _candidate(series: tuple[str, Segment, np.ndarray, np.ndarray], req: pd.DataFrame, norm: np.ndarray,
               ok: np.ndarray, is_err: np.ndarray, start: np.ndarray, usable: np.ndarray, seg_use: np.ndarray,
               base_use: np.ndarray | None, source: str, lo_min: int, t0: int, step: int, until_ns: int,
               g: GateThresholds) -> Incident:
    """One series' change placed in time, given its baseline, described and judged."""
    name, seg, k_best, n_best = series
    if base_use is None:
        seg = extend(k_best, n_best, seg, lo_min=lo_min)
    t = len(k_best)
    gap = max(g.min_steps, min(int(g.burst_gap_ns // step), t // 3))
    seg = cluster(k_best, n_best, seg, gap=gap, lo_min=lo_min, keep_before=min(seg.lo, max(g.min_steps, seg.lo // 3)))
    onset, end = t0 + seg.lo * step, min(until_ns, t0 + seg.hi * step)
    inc = seg_use & (start >= onset) & (start < end)
    if base_use is None:
        base_use, base_lo, base_hi = _auto_baseline(start, usable, onset, end, t0, step, g)
    else:
        base_lo, base_hi = int(start[base_use].min()), int(start[base_use].max()) + 1
    sli = "errors" if name == "errors" else "latency"
    result = Incident(False, "", sli=sli, onset_ns=onset, end_ns=end, step_ns=step, scan_p_value=seg.p_value,
                      baseline_source=source, incident_mask=inc, baseline_mask=base_use,
                      baseline_ns=(base_lo, base_hi) if base_use.any() else None)
    _describe(result, req, norm, ok, is_err, g)
    if not base_use.any() or base_use.sum() < g.min_requests:
        result.reason = "the change covers the whole range: no baseline to compare with"
        return result
    if source == "auto" and seg.lo == 0 and _starts_with_process(req, onset, g) and end - onset < g.warmup_regime_ns:
        result.reason = WARMUP_REASON
        result.warmup_only = True
        return result
    if seg.p_value > g.max_p_value:
        result.reason = f"no significant change (scan p = {seg.p_value:.2g})"
        return result
    material, why = _material(result, g)
    result.found = material
    result.reason = why
    return result


def _auto_baseline(start: np.ndarray, usable: np.ndarray, onset: int, end: int, t0: int, step: int,
                   g: GateThresholds) -> tuple[np.ndarray, int, int]:
    """The same length of time just before the onset (at least min_steps), else after the end.
    A guard of a few steps is left out next to the onset: the onset is known to a step or two, and
    a baseline that already holds the change's first seconds would hide it."""
    length = max(end - onset, g.min_steps * step, g.min_baseline_ns)
    guard = int(min(max(2 * step, 0.1 * (end - onset)), 0.25 * max(onset - t0, 0)))
    stop = onset - guard
    before = usable & (start < stop) & (start >= stop - length)
    if before.sum() >= g.min_requests:
        return before, max(int(t0), stop - length), stop
    before_all = usable & (start < stop)
    if before_all.sum() >= g.min_requests:
        return before_all, int(start[before_all].min()), stop
    after = usable & (start >= end + guard) & (start < end + guard + length)
    if after.sum() >= g.min_requests:
        return after, end + guard, end + guard + length
    return before_all | after, onset, onset


def _starts_with_process(req: pd.DataFrame, onset: int, g: GateThresholds) -> bool:
    warm = req["fresh" if "fresh" in req.columns else "warmup"].to_numpy(dtype=bool)
    if not warm.any():
        return False
    last_warm = int(req["start_ns"].to_numpy()[warm].max())
    return onset - last_warm < g.warmup_regime_ns


def _describe(inc: Incident, req: pd.DataFrame, norm: np.ndarray, ok: np.ndarray, is_err: np.ndarray,
              g: GateThresholds) -> None:
    """Before/after numbers: per request type and pooled (normalised per type, then scaled)."""
    lat = req["latency_ms"].to_numpy(dtype=float)
    routes = codes(req["route"])
    names = req["route"].cat.categories if hasattr(req["route"], "cat") else None
    a, b = inc.incident_mask, inc.baseline_mask
    types: list[TypeStats] = []
    for code in pd.unique(routes[a | b]):
        r = routes == code
        route = str(names[code]) if names is not None and code >= 0 else str(req["route"].iloc[int(np.argmax(r))])
        ra, rb = a & r, b & r
        if ra.sum() == 0:
            continue
        types.append(TypeStats(
            route=str(route), n_baseline=int(rb.sum()), n_incident=int(ra.sum()),
            p99_baseline_ms=_p99(lat[rb & ok]) if (rb & ok).sum() >= g.min_requests else None,
            p99_incident_ms=_p99(lat[ra & ok]) if (ra & ok).sum() >= g.min_requests else None,
            error_ratio_baseline=float(is_err[rb].mean()) if rb.any() else 0.0,
            error_ratio_incident=float(is_err[ra].mean())))
    inc.types = sorted(types, key=lambda s: -s.n_incident)
    inc.p99_baseline_ms = _p99(lat[b & ok])
    inc.p99_observed_ms = _p99(lat[a & ok])
    inc.error_ratio_baseline = float(is_err[b].mean()) if b.any() else None
    inc.error_ratio_observed = float(is_err[a].mean()) if a.any() else None
    # per-type normalised scale: latency / the type's baseline median (pooled median for few requests)
    if (b & ok).sum() >= g.min_requests and (a & ok).sum() >= g.min_requests:
        base_norm = _normalised(req, b & ok, g)
        p99b = float(np.quantile(base_norm[b & ok], 0.99))
        inc.p99_ratio = float(np.quantile(base_norm[a & ok], 0.99) / max(p99b, 1e-9))
        inc.exceedance = float((base_norm[a & ok] > p99b).mean())
    test = mann_whitney(norm[a & ok], norm[b & ok], min_n=g.min_requests)
    inc.test = ({"name": test.name, "p_value": test.p_value, "effect": round(test.effect, 3),
                 "n_incident": test.n_a, "n_baseline": test.n_b} if test else {})


def _material(inc: Incident, g: GateThresholds) -> tuple[bool, str]:
    if inc.sli == "errors":
        eb, eo = inc.error_ratio_baseline or 0.0, inc.error_ratio_observed or 0.0
        n_err = int(round(eo * int(inc.incident_mask.sum())))
        if n_err >= g.min_errors and eo >= g.min_error_ratio * eb and eo - eb >= g.min_error_delta:
            return True, f"error ratio {eb:.1%} -> {eo:.1%}"
        return False, f"error ratio {eb:.1%} -> {eo:.1%} is not a material change"
    # latency: how many incident requests ran past their type's baseline P99 (1 % would be no
    # change), and the P99 on a per-type normalised scale, before and after
    exceed, ratio = inc.exceedance, inc.p99_ratio
    delta = (inc.p99_observed_ms or 0.0) - (inc.p99_baseline_ms or 0.0)
    if exceed is None or ratio is None:
        return False, "too few requests on both sides to compare P99"
    if (ratio >= g.min_p99_ratio or exceed >= g.min_exceedance) and exceed >= g.min_exceedance / 2 \
            and delta >= g.min_p99_delta_ms:
        return True, (f"P99 {inc.p99_baseline_ms:.0f} -> {inc.p99_observed_ms:.0f} ms; {exceed:.1%} of requests "
                      f"above their baseline P99 from {iso(inc.onset_ns)}")
    return False, f"P99 x{ratio:.2f} (+{delta:.0f} ms), {exceed:.1%} above the baseline P99: not a material change"


def detect_services(ops: pd.DataFrame, req: pd.DataFrame, *, window_ns: int, until_ns: int, explicit_since: bool,
                    baseline: tuple[int, int] | None = None, g: GateThresholds = GATE) -> Incident | None:
    """The gate on each service's own SLI, for changes the entry requests do not show (a callee
    that fails more while callers retry or degrade, a service whose own time rose with few entry
    requests to show it): per service, the failures that start in it and its spans' own time,
    scanned like the entry requests, the p-value corrected for every service and series looked at.
    Returns the most significant material change, with masks over the entry requests ``req``."""
    if ops.empty:
        return None
    start = ops["start_ns"].to_numpy(dtype=np.int64)
    step = choose_step(start, g)
    t0 = int(start.min())
    bucket = ((start - t0) // step).clip(0).astype(np.int64)
    t = int(bucket.max()) + 1
    services = [s for s, n in ops["service"].value_counts().items() if n >= 2 * g.min_requests]
    tests = max(1, 2 * len(services))
    lo_min = 0
    base_time: tuple[int, int] | None = baseline
    if baseline is None and explicit_since:
        length = until_ns - window_ns
        base_time = (window_ns - length, window_ns)
    if base_time is not None:
        lo_min = int(max(0, (max(window_ns, base_time[1]) - t0) // step))
    best: tuple[float, str, str, Segment, np.ndarray] | None = None
    svc_all = ops["service"].astype(str).to_numpy()
    for service in services:
        on = svc_all == service
        own = as_bool(ops["own_failed"])
        ok = on & ~as_bool(ops["failed"])
        self_ms = ops["self_ms"].to_numpy(dtype=float)
        med = pd.Series(self_ms[ok]).groupby(ops["operation"].astype(str).to_numpy()[ok]).median()
        scale = ops["operation"].astype(str).map(med).fillna(float(np.median(self_ms[ok])) if ok.any() else 1.0)
        norm = self_ms / np.maximum(scale.to_numpy(dtype=float), 1e-3)
        slow = ok & (norm > (float(np.quantile(norm[ok], 0.95)) if ok.any() else np.inf))
        series = (("errors", own & on, on), ("latency", slow, ok)) if g.service_latency else (("errors", own & on, on),)
        for name, flags, use in series:
            if flags.sum() < g.min_errors:
                continue
            inside = use if base_time is None else use & (start >= window_ns)
            k, n = _counts(bucket, flags, inside, t)
            outside = None
            if base_time is not None:
                b = use & (start >= base_time[0]) & (start < base_time[1])
                outside = (int((flags & b).sum()), int(b.sum()))
            seg = scan(k, n, min_steps=g.min_steps, min_n=g.min_errors, lo_min=min(lo_min, t - 1), outside=outside)
            if seg is None:
                continue
            p = min(1.0, seg.p_value * tests)
            if best is None or p < best[0]:
                best = (p, service, name, seg, flags)
    if best is None:
        return None
    p, service, name, seg, flags = best
    onset, end = t0 + seg.lo * step, min(until_ns, t0 + seg.hi * step)
    if base_time is None:
        length = max(end - onset, g.min_steps * step)
        guard = int(min(max(2 * step, 0.1 * length), 0.25 * max(onset - t0, 0)))
        base_time = (max(t0, onset - guard - length), onset - guard)
        if base_time[1] - base_time[0] < g.min_steps * step:
            base_time = (end + guard, end + guard + length)
    on = svc_all == service
    in_b = on & (start >= base_time[0]) & (start < base_time[1])
    in_i = on & (start >= onset) & (start < end)
    rate_b = float(flags[in_b].mean()) if in_b.any() else 0.0
    rate_i = float(flags[in_i].mean()) if in_i.any() else 0.0
    what = "failures that start in it" if name == "errors" else "calls slower in its own code"
    reason = (f"service {service}: {what} {rate_b:.1%} -> {rate_i:.1%} of its calls "
              f"(p = {p:.2g}, corrected for {tests} series)")
    rs = req["start_ns"].to_numpy(dtype=np.int64)
    usable = ~req["warmup"].to_numpy(dtype=bool)
    inc = Incident(False, reason, sli=name, scope=f"service {service}", onset_ns=onset, end_ns=end,
                   baseline_ns=base_time, baseline_source="explicit" if baseline else "auto", step_ns=step,
                   scan_p_value=p,
                   incident_mask=usable & (rs >= onset) & (rs < end),
                   baseline_mask=usable & (rs >= base_time[0]) & (rs < base_time[1]))
    n_i = int(in_i.sum())
    material = (p <= g.max_p_value and int(flags[in_i].sum()) >= g.min_errors and n_i >= g.min_errors
                and rate_i >= g.min_error_ratio * rate_b and rate_i - rate_b >= g.min_service_rise)
    inc.found = bool(material and in_b.sum() >= g.min_errors)
    if not inc.found:
        inc.reason = f"no material change in any service's own calls (best: {reason})"
    return inc


__all__ = ["GATE", "GateThresholds", "Incident", "TypeStats", "choose_step", "detect", "detect_services"]
