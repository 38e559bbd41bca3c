"""Shared inputs of the detectors: the window's requests and their latency baseline.

The *baseline P99* of a route is the 25th percentile of its per-step P99s (a fault that lasts
even most of the window does not move it); a request's *excess* is how far it ran past its route's baseline
P99. A detector explains a *share of the P99 excess* when the time it can attribute covers
part of that excess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._finding import iso
from infersight.analysis._telemetry import Telemetry
from scipy import stats

log = logging.getLogger(__name__)

STEP_NS = 10_000_000_000  # 10 s steps for the P99 series and the baselines
MWU_SAMPLE = 50_000
BASELINE_Q = 0.25
WARMUP_NS = 10_000_000_000  # see features/requests_for_detectors.sql


@dataclass
class Context:
    tel: Telemetry
    requests: pd.DataFrame
    step_ns: int = STEP_NS
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, tel: Telemetry) -> Context:
        tel.require_data()
        # via Arrow so the (few) route strings become a categorical, not 2M Python objects
        sql = _sql.load("features/requests_for_detectors")
        req = tel.con.sql(sql, params={"warmup_ns": WARMUP_NS}).to_arrow_table().to_pandas(
            strings_to_categorical=True)
        if req.empty:
            req = tel.con.sql(sql, params={"warmup_ns": 0}).to_arrow_table().to_pandas(strings_to_categorical=True)
        span = int(req["start_ns"].max() - req["start_ns"].min()) if len(req) else 0
        # ~60 steps over the window, between 1 s and 60 s
        step = int(min(60e9, max(1e9, span / 60)))
        ctx = cls(tel=tel, requests=req, step_ns=step)
        ctx._baseline()
        return ctx

    # -- baseline and excess ------------------------------------------------------------------
    def _baseline(self) -> None:
        r = self.requests
        r["bucket"] = r["start_ns"] // self.step_ns
        per = r.groupby(["route", "bucket"], observed=True)["duration_ms"].quantile(0.99).rename("p99").reset_index()
        # a fault may cover most of the window: the baseline is a low quantile of the step P99s
        base = per.groupby("route", observed=True)["p99"].quantile(BASELINE_Q)
        med = r.groupby("route", observed=True)["duration_ms"].median()
        r["base_p99"] = r["route"].map(base).astype(float)
        r["route_median"] = r["route"].map(med).astype(float)
        r["excess_ms"] = (r["duration_ms"] - r["base_p99"]).clip(lower=0.0)
        r["norm"] = r["duration_ms"] / r["route_median"].where(r["route_median"] > 0, 1.0)
        self.total_excess = float(r["excess_ms"].sum())
        self.baseline_p99 = float(np.average(base.reindex(r["route"]).to_numpy())) if len(r) else 0.0
        self.observed_p99 = float(r["duration_ms"].quantile(0.99)) if len(r) else 0.0

    @property
    def window(self) -> str:
        return f"{iso(self.tel.since_ns)}/{iso(self.tel.until_ns)}"

    @property
    def scope(self) -> str:
        return f"route {self.tel.route}" if self.tel.route else "all routes"

    def excess_share(self, mask: np.ndarray | pd.Series | None = None,
                     attributable_ms: np.ndarray | pd.Series | None = None) -> float:
        """Share of the total P99 excess carried by ``mask`` requests, capped by what is attributable."""
        if self.total_excess <= 0:
            return 0.0
        ex = self.requests["excess_ms"].to_numpy()
        if attributable_ms is not None:
            ex = np.minimum(ex, np.asarray(attributable_ms, dtype=float))
        if mask is not None:
            ex = ex[np.asarray(mask, dtype=bool)]
        return float(ex.sum() / self.total_excess)

    def p99(self, mask: np.ndarray | pd.Series) -> float:
        d = self.requests["duration_ms"].to_numpy()[np.asarray(mask, dtype=bool)]
        return float(np.quantile(d, 0.99)) if len(d) else float("nan")

    def contrast(self, mask: np.ndarray | pd.Series, min_n: int = 5) -> tuple[float, float]:
        """One-sided Mann-Whitney U on route-normalised latency: ``mask`` requests slower than the rest?

        Returns (p_value, rank-biserial effect size in [-1, 1]); (1.0, 0.0) when a side is too small.
        """
        m = np.asarray(mask, dtype=bool)
        norm = self.requests["norm"].to_numpy()
        a, b = norm[m], norm[~m]
        if len(a) < min_n or len(b) < min_n:
            return 1.0, 0.0
        # ranks of millions of requests cost seconds; a fixed-seed sample of 50k a side gives the
        # same effect size (to ~0.01) and a p-value that is still far below any threshold we use
        rng = np.random.default_rng(0)
        if len(a) > MWU_SAMPLE:
            a = rng.choice(a, MWU_SAMPLE, replace=False)
        if len(b) > MWU_SAMPLE:
            b = rng.choice(b, MWU_SAMPLE, replace=False)
        res = stats.mannwhitneyu(a, b, alternative="greater")
        effect = 2.0 * float(res.statistic) / (len(a) * len(b)) - 1.0
        return float(res.pvalue), effect

    def exemplars(self, mask: np.ndarray | pd.Series | None = None, n: int = 5) -> list[str]:
        """Trace ids of the ``n`` slowest requests in ``mask``, slowest first."""
        r = self.requests if mask is None else self.requests[np.asarray(mask, dtype=bool)]
        idx = [int(i) for i in r.nlargest(n, "duration_ms")["idx"]]
        if not idx:
            return []
        found = dict(self.tel.con.execute(_sql.load("features/trace_ids_for"), {"idx": idx}).fetchall())
        return [str(found[i]) for i in idx if i in found]

    def symptom_strength(self) -> float:
        """0..1: is there a latency problem at all? 1 when the window's P99 is 1.5x its baseline."""
        if self.baseline_p99 <= 0:
            return 0.0
        return float(min(1.0, max(0.0, (self.observed_p99 / self.baseline_p99 - 1.0) / 0.5)))

    def materiality(self, mask: np.ndarray) -> float:
        """0..1: how much slower (median) the ``mask`` requests are than the rest; 1 at 2x or more.

        Statistical significance alone is not a problem: a dependency's normal jitter explains
        part of any tail, but a finding needs the affected requests to be materially slower.
        """
        m = np.asarray(mask, dtype=bool)
        if m.sum() == 0 or (~m).sum() == 0:
            return 0.0
        d = self.requests["duration_ms"].to_numpy()
        ratio = float(np.median(d[m])) / max(float(np.median(d[~m])), 1e-9)
        return float(min(1.0, max(0.0, ratio - 1.0)))

    def slow_mask(self) -> np.ndarray:
        return (self.requests["excess_ms"] > 0).to_numpy()

    def overlapping(self, starts: np.ndarray, ends: np.ndarray, *, grace_ns: int = 0,
                    at_arrival: bool = False) -> np.ndarray:
        """Requests whose [start, end) overlaps any interval [starts[i], ends[i] + grace);
        ``at_arrival``: requests whose start falls in one (start <= arrival < end + grace)."""
        if len(starts) == 0:
            return np.zeros(len(self.requests), dtype=bool)
        order = np.argsort(starts)
        s = np.asarray(starts, dtype=np.int64)[order]
        e = np.maximum.accumulate(np.asarray(ends, dtype=np.int64)[order] + grace_ns)
        rs = self.requests["start_ns"].to_numpy()
        # last interval starting before the request ends (at or before its arrival); it (or an
        # earlier one) overlaps if the running max of ends is past the request's start
        if at_arrival:
            idx = np.searchsorted(s, rs, side="right") - 1
        else:
            idx = np.searchsorted(s, self.requests["end_ns"].to_numpy(), side="left") - 1
        ok = idx >= 0
        out = np.zeros(len(rs), dtype=bool)
        out[ok] = e[idx[ok]] > rs[ok]
        return out

    def in_steps(self, mask: np.ndarray) -> np.ndarray:
        """Requests that started in any time step in which a ``mask`` request started."""
        buckets = self.requests["bucket"].to_numpy()
        return np.isin(buckets, np.unique(buckets[np.asarray(mask, dtype=bool)]))

    def p99_series(self) -> pd.DataFrame:
        """Per-step P99 (ms) and request count over the window (all selected routes)."""
        r = self.requests
        g = r.groupby("bucket")["duration_ms"]
        df = pd.DataFrame({"p99": g.quantile(0.99), "n": g.size()}).reset_index()
        df["ts_ns"] = df["bucket"] * self.step_ns
        return df

    def parts(self) -> dict[str, np.ndarray]:
        """Per-request ms in each part (``pool``, ``cache_miss:<cache>``, ``dependency:<peer>``)."""
        if "parts" not in self.cache:
            cols = self.tel.con.execute(_sql.load("features/request_parts")).fetchnumpy()
            n = len(self.requests)
            out: dict[str, np.ndarray] = {}
            if cols and len(cols.get("idx", ())):
                # request idx -> position in self.requests (warm-up requests are not there)
                ridx = self.requests["idx"].to_numpy(dtype=np.int64)
                raw = np.asarray(cols.pop("idx"), dtype=np.int64)
                pos = np.full(int(max(ridx.max(initial=0), raw.max(initial=0))) + 1, -1, dtype=np.int64)
                pos[ridx] = np.arange(n)
                at = pos[raw]
                keep = at >= 0
                for name, values in cols.items():
                    arr = np.zeros(n)
                    v: np.ndarray = np.ma.filled(np.ma.asarray(values, dtype=float), 0.0)
                    arr[at[keep]] = np.nan_to_num(v[keep])
                    out[str(name)] = arr
            self.cache["parts"] = out
        parts: dict[str, np.ndarray] = self.cache["parts"]
        return parts

    def table(self, name: str) -> pd.DataFrame:
        """A feature table as a DataFrame, read once."""
        if name not in self.cache:
            self.cache[name] = _sql.run(self.tel.con, f"features/{name}")
        df: pd.DataFrame = self.cache[name]
        return df


def confidence(p_value: float, share: float, effect: float, *, support: float = 1.0) -> float:
    """Combine significance, explained share and effect size into a 0..1 confidence.

    Each factor saturates: p < 1e-6 counts fully, share >= 0.5, effect >= 0.6; ``support``
    (0..1) scales for corroborating evidence (periodicity, mechanism).
    """
    sig = min(1.0, max(0.0, -np.log10(max(p_value, 1e-300)) / 6.0))
    sh = min(1.0, max(0.0, share / 0.5))
    ef = min(1.0, max(0.0, effect / 0.6))
    return float(sig ** 0.5 * sh ** 0.5 * ef ** 0.5 * min(1.0, max(0.0, support)))


def mechanisms(ctx: Context) -> dict[str, np.ndarray]:
    """Per-request milliseconds attributable to each mechanism (aligned with ``ctx.requests``).

    ``gc`` and ``event_loop`` come from the request's own pause/block overlap; ``pool`` is the
    time waiting for a pooled connection; ``dependency:<peer>`` the time in calls to a peer.
    """
    if "mechanisms" in ctx.cache:
        out: dict[str, np.ndarray] = ctx.cache["mechanisms"]
        return out
    r = ctx.requests
    out = {"gc": r["gc_pause_ms"].to_numpy(dtype=float),
           "event_loop": r["loop_blocked_ms"].to_numpy(dtype=float)}
    for part, arr in ctx.parts().items():
        if part == "pool" or part.startswith("dependency:"):
            out[part] = arr
    ctx.cache["mechanisms"] = out
    return out


def dominant_mechanism(ctx: Context, mask: np.ndarray) -> tuple[str, float, float]:
    """The mechanism whose per-request time grows most in ``mask`` requests vs the rest.

    Returns (name, mean ms in mask, mean ms elsewhere); ("cpu", ...) when none grows by >= 1 ms,
    i.e. the requests got slower without waiting on GC, the loop, the pool or a dependency.
    """
    best = ("cpu", 0.0, 0.0)
    best_delta = 1.0
    m = np.asarray(mask, dtype=bool)
    if m.sum() == 0 or (~m).sum() == 0:
        return best
    for name, arr in mechanisms(ctx).items():
        a, b = float(arr[m].mean()), float(arr[~m].mean())
        if a - b > best_delta:
            best, best_delta = (name, a, b), a - b
    return best
