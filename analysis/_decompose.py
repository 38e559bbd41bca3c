"""Where did the time go? Each request's latency split into disjoint parts, and which part's
change explains the incident's excess over the baseline.

A sample of requests (every affected incident request up to a cap, and as many baseline ones)
is read span by span (``features/decompose_spans``). Each span's own time goes to one part:

- ``self:<service>``   the service's own work (a slower service, CPU contention)
- ``net:<callee>``     a call's time outside the traced callee (network, the callee's queue)
- ``dep:<peer>``       a call to an untraced peer (a database, an external API)
- ``pool:<pool>``      waiting for a pooled connection
- ``cache:<cache>``    a cache miss's own time (an untraced loader)
- ``engine_queue:<s>`` / ``engine_compute:<s>``  an inference engine's queue and GPU compute, from
                       its own split of the request (vLLM's gen_ai.latency.* attributes)
- ``gc`` / ``loop``    GC pauses and event-loop blocks carved out of the spans they stalled
                       (a client span stretched by the app's own blocked loop is the loop's, not
                       the dependency's), plus the time queued before the span started because
                       the loop was blocked
- ``queue:<service>``  the rest of the time before the span started that the client saw
                       (accept backlog, an overloaded server)

so a dependency's wait is credited to the callee's own spans, and the parts of one request sum
to its latency. For every part: how much more of it the affected incident requests had than
baseline requests of the same type, and the share of the excess that covers (per request, the
parts' rises are scaled down to the request's excess, so shares never sum above 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from infersight.analysis import _intervals, _sql
from infersight.analysis._context import Context
from infersight.analysis._stats import Test, as_bool, mann_whitney

SAMPLE_AFFECTED = 4000
SAMPLE_BASELINE = 4000
SAMPLE_OTHER = 1000
MIN_BASE_PER_TYPE = 10


@dataclass
class PartChange:
    part: str
    role: str
    entity: str
    share: float  # of the excess of the sampled affected requests
    baseline_ms: float  # mean per baseline request
    incident_ms: float  # mean per affected incident request
    rose_share: float  # affected requests in which the part rose
    test: Test | None  # the part per request: affected incident requests vs baseline requests
    calls_baseline: float = 0.0
    calls_incident: float = 0.0
    #: per call (requests that made the call): is each call slower than in the baseline?
    per_call_test: Test | None = None

    def evidence(self, max_p: float, *, dominant_share: float = 0.5, dominant_p: float = 0.1) -> Test | None:
        """The test that says the part rose (per call when it is made of calls, else per request),
        when significant at ``max_p`` - or at ``dominant_p`` for a part that carries most of an
        incident's excess (the gate already established the change; this part is where it is)."""
        for test in (self.per_call_test, self.test):
            if test is None or test.effect <= 0:
                continue
            if test.p_value <= max_p or (self.share >= dominant_share and test.p_value <= dominant_p):
                return test
        return None

    @property
    def per_call_baseline_ms(self) -> float:
        return self.baseline_ms / self.calls_baseline if self.calls_baseline > 0 else self.baseline_ms

    @property
    def per_call_incident_ms(self) -> float:
        return self.incident_ms / self.calls_incident if self.calls_incident > 0 else self.incident_ms


@dataclass
class Decomposition:
    #: positions (rows of ctx.requests) of the sampled requests
    pos: np.ndarray
    #: ms per part, one row per sampled request (aligned with pos)
    parts: pd.DataFrame
    #: calls / lookups per part
    calls: pd.DataFrame
    #: entry service of each sampled request
    entry: np.ndarray
    #: inclusive time of cache misses per cache (miss path, loader included)
    miss_incl: pd.DataFrame
    changes: list[PartChange] = field(default_factory=list)

    def column(self, part: str, n: int) -> np.ndarray:
        """A part as an array over all ``n`` requests (0 where not sampled)."""
        out = np.zeros(n)
        if part in self.parts:
            out[self.pos] = self.parts[part].to_numpy()
        return out

    def sampled(self, n: int) -> np.ndarray:
        m = np.zeros(n, dtype=bool)
        m[self.pos] = True
        return m

    def change(self, part: str) -> PartChange | None:
        return next((c for c in self.changes if c.part == part), None)


def _sample(ctx: Context) -> np.ndarray:
    """Positions of the requests whose traces are read: every affected one up to a cap, as many
    baseline ones, some other incident ones. Beyond a cap the ones with the smallest trace key (a
    hash of the trace id) are taken: a fixed pseudo-random choice that does not depend on the
    order the engine returned the rows in."""
    inc, base, aff = ctx.inc, ctx.base, ctx.affected()
    key = ctx.requests["tkey"].to_numpy()

    def pick(mask: np.ndarray, cap: int) -> np.ndarray:
        where = np.flatnonzero(mask)
        if len(where) <= cap:
            return where
        return np.sort(where[np.argsort(key[where], kind="stable")[:cap]])

    return np.unique(np.concatenate([pick(aff, SAMPLE_AFFECTED), pick(base, SAMPLE_BASELINE),
                                     pick(inc & ~aff, SAMPLE_OTHER)]))


def _carve(spans: pd.DataFrame, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """ns of each span's own time that GC pauses / loop blocks of its service covered (each
    span's overlap scaled by its own share of its duration, so nested spans are not carved twice)."""
    gc = np.zeros(len(spans))
    loop = np.zeros(len(spans))
    if events.empty or spans.empty:
        return gc, loop
    dur = (spans["end_ns"] - spans["start_ns"]).to_numpy(dtype=float)
    frac = np.where(dur > 0, spans["self_ns"].to_numpy(dtype=float) / np.maximum(dur, 1), 0.0)
    svc = spans["service"].astype(str).to_numpy()
    for (service, kind), ev in events.groupby(["service", "kind"]):
        on = svc == str(service)
        if not on.any():
            continue
        iv = (ev["start_ns"].to_numpy(dtype=np.int64), ev["end_ns"].to_numpy(dtype=np.int64))
        ov = _intervals.overlap_ns(iv, spans["start_ns"].to_numpy()[on], spans["end_ns"].to_numpy()[on])
        target = gc if kind == "gc" else loop
        target[on] += ov * frac[on]
    total = gc + loop
    own = spans["self_ns"].to_numpy(dtype=float)
    scale = np.where(total > own, own / np.maximum(total, 1), 1.0)
    return gc * scale, loop * scale


def _front(ctx: Context, pos: np.ndarray, events: pd.DataFrame) -> list[pd.DataFrame]:
    """The time before the request's span started: queued behind a blocked loop (the recorded
    queued_ms, and the part of the client's wait that a loop block of the entry service covered),
    the rest ``queue:<service>`` (accept backlog, network, an overloaded server)."""
    r = ctx.requests.iloc[pos]
    lat = r["latency_ms"].to_numpy(dtype=float)
    dur = r["duration_ms"].to_numpy(dtype=float)
    queued = r["queued_ms"].to_numpy(dtype=float)
    gap = np.clip(lat - dur, 0.0, None)
    loop = np.minimum(queued, gap)
    cs = r["client_start_ns"].to_numpy(dtype=float)
    has = ~np.isnan(cs) & (gap > loop)
    if has.any() and not events.empty:
        svc = r["service"].astype(str).to_numpy()
        lo = np.where(has, np.nan_to_num(cs), 0).astype(np.int64)
        hi = r["start_ns"].to_numpy(dtype=np.int64)
        for service, ev in events[events["kind"] == "loop"].groupby("service"):
            on = has & (svc == str(service))
            if on.any():
                iv = (ev["start_ns"].to_numpy(dtype=np.int64), ev["end_ns"].to_numpy(dtype=np.int64))
                covered = _intervals.overlap_ns(iv, lo[on], np.maximum(hi[on], lo[on])) / 1e6
                loop[on] = np.maximum(loop[on], np.minimum(covered, gap[on]))
    rest = gap - loop
    svc_parts = np.char.add("queue:", r["service"].astype(str).to_numpy().astype(str))
    return [pd.DataFrame({"pos": pos, "part": "loop", "ms": loop}),
            pd.DataFrame({"pos": pos, "part": svc_parts, "ms": rest})]


def _cap_by_recorded(ctx: Context, spans: pd.DataFrame, carved_ns: np.ndarray, col: str) -> np.ndarray:
    """A request that recorded how long it was stalled (infersight.gc.pause_ms ...) is carved no
    more than that: event intervals seen on many requests can overlap into more than one pause."""
    recorded = ctx.requests[col].to_numpy(dtype=float)[spans["pos"].to_numpy()] * 1e6
    total = pd.Series(carved_ns).groupby(spans["pos"].to_numpy()).transform("sum").to_numpy()
    scale = np.where((recorded > 0) & (total > recorded), recorded / np.maximum(total, 1.0), 1.0)
    return np.asarray(carved_ns * scale)


def _recorded_stalls(ctx: Context, pos: np.ndarray, parts: pd.DataFrame) -> None:
    """GC pause / loop-blocked time the request span recorded itself (infersight.gc.pause_ms,
    event-loop attributes) beyond what the event intervals carved: taken from the entry service's
    own time (the stall stopped its code), as far as that time goes."""
    r = ctx.requests.iloc[pos]
    entry = np.char.add("self:", r["service"].astype(str).to_numpy().astype(str))
    for part, col in (("gc", "gc_pause_ms"), ("loop", "loop_blocked_ms")):
        recorded = r[col].to_numpy(dtype=float)
        have = parts[part].to_numpy() if part in parts else np.zeros(len(pos))
        extra = np.clip(recorded - have, 0.0, None)
        if not extra.any():
            continue
        if part not in parts:
            parts[part] = 0.0
        for name in np.unique(entry[extra > 0]):
            rows = (entry == name) & (extra > 0)
            own = parts[name].to_numpy() if name in parts else np.zeros(len(pos))
            moved = np.where(rows, np.minimum(extra, own), 0.0)
            if name in parts:
                parts[name] = own - moved
            parts[part] = parts[part].to_numpy() + moved


def decompose(ctx: Context) -> Decomposition:
    n = len(ctx.requests)
    pos = _sample(ctx)
    empty = Decomposition(pos[:0], pd.DataFrame(), pd.DataFrame(), np.array([], dtype=object), pd.DataFrame())
    if len(pos) == 0:
        return empty
    idx = ctx.requests["idx"].to_numpy()[pos]
    _sql.execute(ctx.tel.con, "features/f_sample", idx=[int(i) for i in idx])
    keys = _sql.query(ctx.tel.con, "SELECT tkey, idx FROM f_sample")
    spans = _sql.run(ctx.tel.con, "features/decompose_spans", **ctx.tel.range_params)
    if spans.empty:
        return empty
    where = pd.Series(np.arange(n), index=ctx.requests["idx"].to_numpy())
    tkey_pos = keys.drop_duplicates("tkey").set_index("tkey")["idx"].map(where)
    spans["pos"] = spans["tkey"].map(tkey_pos)
    spans = spans[spans["pos"].notna()].copy()
    spans["pos"] = spans["pos"].astype(np.int64)
    events = ctx.table("runtime_events")
    gc_ns, loop_ns = _carve(spans, events)
    gc_ns = _cap_by_recorded(ctx, spans, gc_ns, "gc_pause_ms")
    loop_ns = _cap_by_recorded(ctx, spans, loop_ns, "loop_blocked_ms")
    own = spans["self_ns"].to_numpy(dtype=float) - gc_ns - loop_ns
    role = spans["role"].to_numpy()
    hit = as_bool(spans["hit"])
    prefix = np.where(role == "cache", np.where(hit, "self:", "cache:"), np.char.add(role.astype(str), ":"))
    ent = np.where((role == "cache") & hit, spans["service"].astype(str).to_numpy(), spans["entity"].astype(str).to_numpy())
    spans["part"] = np.char.add(prefix.astype(str), ent.astype(str))
    own_ms = own / 1e6
    eq = np.clip(np.nan_to_num(spans["engine_queue_ms"].to_numpy(dtype=float)), 0, None)
    eq = np.minimum(eq, np.clip(own_ms, 0, None))
    ec = np.minimum(np.clip(np.nan_to_num(spans["engine_compute_ms"].to_numpy(dtype=float)), 0, None),
                    np.clip(own_ms - eq, 0, None))
    svc = spans["service"].astype(str).to_numpy().astype(str)
    rows = [pd.DataFrame({"pos": spans["pos"], "part": spans["part"], "ms": own_ms - eq - ec}),
            pd.DataFrame({"pos": spans["pos"], "part": np.char.add("engine_queue:", svc), "ms": eq}),
            pd.DataFrame({"pos": spans["pos"], "part": np.char.add("engine_compute:", svc), "ms": ec}),
            pd.DataFrame({"pos": spans["pos"], "part": "gc", "ms": gc_ns / 1e6}),
            pd.DataFrame({"pos": spans["pos"], "part": "loop", "ms": loop_ns / 1e6})]
    rows.extend(_front(ctx, pos, events))
    long = pd.concat(rows, ignore_index=True)
    parts = long.pivot_table(index="pos", columns="part", values="ms", aggfunc="sum", fill_value=0.0)
    parts = parts.reindex(pos, fill_value=0.0)
    _recorded_stalls(ctx, pos, parts)
    # calls per part: client calls, acquisitions, lookups, and a traced service's SERVER spans
    callish = spans[spans["role"].isin(["net", "dep", "pool", "cache"])
                    | ((spans["role"] == "self") & (spans["kind"] == "server"))]
    calls = (callish.groupby(["pos", "part"]).size().unstack(fill_value=0).reindex(pos, fill_value=0)
             if not callish.empty else pd.DataFrame(index=pos))
    misses = spans[(spans["role"] == "cache").to_numpy() & ~as_bool(spans["hit"])]
    miss_incl = (misses.assign(ms=(misses["end_ns"] - misses["start_ns"]) / 1e6)
                 .pivot_table(index="pos", columns="entity", values="ms", aggfunc="sum", fill_value=0.0)
                 .reindex(pos, fill_value=0.0)) if not misses.empty else pd.DataFrame(index=pos)
    entry = ctx.requests["service"].iloc[pos].astype(str).to_numpy()
    dec = Decomposition(pos, parts, calls, entry, miss_incl)
    dec.changes = _changes(ctx, dec)
    return dec


def _baseline_means(ctx: Context, dec: Decomposition, base: np.ndarray) -> pd.DataFrame:
    """Per request type, the mean ms of each part over its sampled baseline requests (the
    pooled baseline mean for types with few baseline samples)."""
    routes = ctx.requests["route"].iloc[dec.pos].astype(str).to_numpy()
    df = dec.parts[base]
    pooled = df.mean() if len(df) else pd.Series(0.0, index=dec.parts.columns)
    per = df.groupby(routes[base]).mean()
    size = pd.Series(routes[base]).value_counts()
    out = pd.DataFrame([pooled] * len(dec.pos), columns=dec.parts.columns)
    for route, row in per.iterrows():
        if size.get(route, 0) >= MIN_BASE_PER_TYPE:
            out.loc[routes == route] = row.to_numpy()
    return out.set_index(dec.parts.index)


def _changes(ctx: Context, dec: Decomposition) -> list[PartChange]:
    if dec.parts.empty:
        return []
    base = ctx.base[dec.pos]
    aff = ctx.affected()[dec.pos]
    excess = ctx.requests["excess_ms"].to_numpy()[dec.pos]
    if not aff.any() or not base.any():
        return []
    mu = _baseline_means(ctx, dec, base)
    rise = (dec.parts[aff] - mu[aff]).clip(lower=0.0)
    total_rise = rise.sum(axis=1).to_numpy()
    scale = np.where(total_rise > excess[aff], excess[aff] / np.maximum(total_rise, 1e-9), 1.0)
    attributed = rise.mul(scale, axis=0)
    denom = float(excess[aff].sum())
    out: list[PartChange] = []
    for part in dec.parts.columns:
        share = float(attributed[part].sum() / denom) if denom > 0 else 0.0
        role, _, entity = str(part).partition(":")
        x = dec.parts[part].to_numpy()
        calls_b = float(dec.calls[part][base].mean()) if part in dec.calls else 0.0
        calls_i = float(dec.calls[part][aff].mean()) if part in dec.calls else 0.0
        per_call_test = None
        if part in dec.calls:
            c = dec.calls[part].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                per = np.where(c > 0, x / np.maximum(c, 1), np.nan)
            per_call_test = mann_whitney(per[aff & (c > 0)], per[base & (c > 0)])
        out.append(PartChange(
            part=str(part), role=role, entity=entity or role, share=share,
            baseline_ms=float(x[base].mean()), incident_ms=float(x[aff].mean()),
            rose_share=float((rise[part] > 0.5).mean()), test=mann_whitney(x[aff], x[base]),
            calls_baseline=calls_b, calls_incident=calls_i, per_call_test=per_call_test))
    return sorted(out, key=lambda c: -c.share)


__all__ = ["Decomposition", "PartChange", "decompose"]
