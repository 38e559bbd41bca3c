"""Shared inputs of the detectors: the requests, the incident, its baseline and the excess.

Every request in the analysis range (the window asked for plus the baseline before it) is a row
of ``requests``. The incident gate (``_incident``) marks which of them are the incident's and
which the baseline's; a request type's *baseline P99* is the P99 of its baseline requests, and
an incident request's *excess* is how far it ran past it. A detector explains a *share of the
P99 excess* when the time it can attribute covers part of that excess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._finding import iso
from infersight.analysis._incident import GATE, Incident, _describe, _normalised, detect_services
from infersight.analysis._incident import detect as detect_incident
from infersight.analysis._stats import Test, as_bool, codes, mann_whitney
from infersight.analysis._telemetry import Telemetry

log = logging.getLogger(__name__)

#: requests this close to the start of a process that started with the data are its warm-up
WARMUP_NS = 10_000_000_000


def _settle_warmup(req: pd.DataFrame, *, follow_ns: int = 30_000_000_000) -> None:
    """A process's first seconds are its warm-up only if they are slower than what follows (cold
    caches, lazy loading, JIT): per instance, its flagged first requests against its next 30 s
    (normalised per request type); when they are not significantly slower they are ordinary traffic
    and stay in the baselines."""
    warm = req["warmup"].to_numpy(dtype=bool)
    # the instance's first seconds, kept: a slow start the gate finds later is judged against them
    req["fresh"] = warm.copy()
    if not warm.any():
        return
    lat = req["latency_ms"].to_numpy(dtype=float)
    routes = codes(req["route"])
    med = pd.Series(lat).groupby(routes).transform("median").to_numpy(dtype=float)
    norm = lat / np.maximum(med, 1e-6)
    inst = codes(req["instance"])
    start = req["start_ns"].to_numpy()
    for name in np.unique(inst[warm]):
        w = warm & (inst == name)
        last = int(start[w].max())
        after = (inst == name) & ~warm & (start > last) & (start <= last + follow_ns)
        test = mann_whitney(norm[w], norm[after])
        if test is None or test.p_value > 0.01 or test.effect < 0.1:
            warm[w] = False
    req["warmup"] = warm


@dataclass
class Context:
    tel: Telemetry
    requests: pd.DataFrame
    incident: Incident
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, tel: Telemetry) -> Context:
        tel.require_data()
        # via Arrow so the (few) route strings become a categorical, not 2M Python objects
        req = _sql.arrow(tel.con, "features/requests_for_detectors").to_pandas(
            strings_to_categorical=True)
        req["route"] = req["route"].astype("category")
        _settle_warmup(req)
        inc = detect_incident(req, window_ns=tel.since_ns, until_ns=tel.until_ns, explicit_since=tel.explicit_since,
                              baseline=tel.baseline_ns)
        ctx = cls(tel=tel, requests=req, incident=inc)
        if not inc.found:
            # nothing at the entry: did one service's own calls change? (callers retry, degrade)
            svc = detect_services(ctx.operations(), req, window_ns=tel.since_ns, until_ns=tel.until_ns,
                                  explicit_since=tel.explicit_since, baseline=tel.baseline_ns)
            weaker = inc.scan_p_value is None or (svc is not None and svc.scan_p_value is not None
                                                  and svc.scan_p_value <= inc.scan_p_value)
            if svc is not None and (svc.found or weaker):
                _describe(svc, req, _normalised(req, ~req["is_error"].to_numpy(dtype=bool), GATE),
                          ~req["is_error"].to_numpy(dtype=bool), req["is_error"].to_numpy(dtype=bool), GATE)
                ctx.incident = svc
        ctx._excess()
        return ctx

    # -- baseline and excess ------------------------------------------------------------------
    def _excess(self) -> None:
        r = self.requests
        inc, base = self.incident.incident_mask, self.incident.baseline_mask
        r["in_incident"] = inc
        r["in_baseline"] = base
        ok = ~as_bool(r["is_error"])
        lat = r["latency_ms"].to_numpy(dtype=float)
        routes = codes(r["route"])
        sel = base & ok
        per_type = pd.Series(lat[sel]).groupby(routes[sel])
        p99 = per_type.quantile(0.99).where(per_type.size() >= GATE.min_requests)
        med = pd.Series(lat[ok]).groupby(routes[ok]).median()

        def lookup(values: pd.Series) -> np.ndarray:
            table = np.full(int(routes.max(initial=0)) + 2, np.nan)
            v = values.dropna()
            table[v.index.to_numpy(dtype=np.int64)] = v.to_numpy()
            return table[routes]

        med_r = lookup(med)
        pooled_ratio = float(np.quantile(lat[sel] / np.maximum(med_r[sel], 1e-6), 0.99)) if sel.any() else np.nan
        fallback = med_r * pooled_ratio
        base_p99 = lookup(p99)
        base_p99 = np.where(np.isnan(base_p99), fallback, base_p99)
        r["base_p99"] = base_p99
        excess = np.where(inc & ok, np.clip(lat - np.nan_to_num(base_p99, nan=np.inf), 0.0, None), 0.0)
        r["excess_ms"] = excess
        self.total_excess = float(excess.sum())

    @property
    def found(self) -> bool:
        return self.incident.found

    @property
    def has_candidate(self) -> bool:
        """No incident, but a candidate stretch with a baseline: the detectors may name leads
        (capped at low confidence)."""
        return bool(not self.found and self.incident.onset_ns is not None and self.inc.any() and self.base.any())

    @property
    def inc(self) -> np.ndarray:
        return self.incident.incident_mask

    @property
    def base(self) -> np.ndarray:
        return self.incident.baseline_mask

    @property
    def baseline_p99(self) -> float:
        return float(self.incident.p99_baseline_ms or 0.0)

    @property
    def observed_p99(self) -> float:
        return float(self.incident.p99_observed_ms or 0.0)

    @property
    def step_ns(self) -> int:
        return self.incident.step_ns

    @property
    def window(self) -> str:
        lo = self.incident.onset_ns if self.incident.onset_ns is not None else self.tel.since_ns
        hi = self.incident.end_ns if self.incident.end_ns is not None else self.tel.until_ns
        return f"{iso(lo)}/{iso(hi)}"

    @property
    def scope(self) -> str:
        return f"route {self.tel.route}" if self.tel.route else "all routes"

    def affected(self) -> np.ndarray:
        """Incident requests that ran past their type's baseline P99."""
        return self.requests["excess_ms"].to_numpy() > 0

    def excess_share(self, mask: np.ndarray | None = None, attributable_ms: np.ndarray | None = None) -> float:
        """Share of the total P99 excess carried by ``mask`` requests, capped by what is attributable."""
        if self.total_excess <= 0:
            return 0.0
        ex = self.requests["excess_ms"].to_numpy()
        if attributable_ms is not None:
            ex = np.minimum(ex, np.clip(np.asarray(attributable_ms, dtype=float), 0.0, None))
        if mask is not None:
            ex = ex[np.asarray(mask, dtype=bool)]
        return float(min(1.0, ex.sum() / self.total_excess))

    def p99(self, mask: np.ndarray | pd.Series) -> float:
        d = self.requests["latency_ms"].to_numpy()[np.asarray(mask, dtype=bool)]
        return float(np.quantile(d, 0.99)) if len(d) else float("nan")

    def contrast(self, mask: np.ndarray, against: np.ndarray | None = None, *, min_n: int = 5) -> Test | None:
        """Mann-Whitney U on type-normalised latency: ``mask`` requests slower than ``against``
        (default: the baseline requests)?"""
        norm = self.requests["latency_ms"].to_numpy() / np.maximum(self.requests["base_p99"].to_numpy(), 1e-6)
        other = self.base if against is None else np.asarray(against, dtype=bool)
        return mann_whitney(norm[np.asarray(mask, dtype=bool)], norm[other], min_n=min_n)

    def exemplars(self, mask: np.ndarray | pd.Series | None = None, n: int = 5) -> list[str]:
        """Trace ids of the ``n`` slowest requests in ``mask``, slowest first."""
        r = self.requests if mask is None else self.requests[np.asarray(mask, dtype=bool)]
        idx = [int(i) for i in r.nlargest(n, "latency_ms")["idx"]]
        if not idx:
            return []
        found = dict(_sql.rows(self.tel.con, "features/trace_ids_for", idx=idx))
        return [str(found[i]) for i in idx if i in found]

    def in_steps(self, mask: np.ndarray) -> np.ndarray:
        """Requests that started in any time step in which a ``mask`` request started."""
        buckets = self.requests["start_ns"].to_numpy() // self.step_ns
        return np.isin(buckets, np.unique(buckets[np.asarray(mask, dtype=bool)]))

    def p99_series(self) -> pd.DataFrame:
        """Per-step P99 (ms) and request count over the range (all selected routes)."""
        r = self.requests
        step = max(self.step_ns, int((self.tel.until_ns - self.tel.range_since_ns) // 60) or 1)
        b = r["start_ns"] // step
        g = r.groupby(b)["latency_ms"]
        df = pd.DataFrame({"p99": g.quantile(0.99), "n": g.size()}).reset_index(names="bucket")
        df["ts_ns"] = df["bucket"] * step
        return df

    def table(self, name: str) -> pd.DataFrame:
        """A feature table as a DataFrame, read once."""
        if name not in self.cache:
            self.cache[name] = _sql.run(self.tel.con, f"features/{name}")
        df: pd.DataFrame = self.cache[name]
        return df

    def operations(self) -> pd.DataFrame:
        """Every SERVER span (entry and between services) with its own time and own failures
        (``features/f_operations``), built once; empty for single-service data."""
        if "operations" not in self.cache:
            multi = _sql.run(self.tel.con, "features/internal_server_spans", **self.tel.range_params)
            if len(multi) and int(multi.iloc[0, 0]) > 0:
                _sql.execute(self.tel.con, "features/f_operations", **self.tel.range_params)
                self.cache["operations"] = self.tel.con.arrow("SELECT * FROM f_operations").to_pandas(
                    strings_to_categorical=True)
            else:
                self.cache["operations"] = pd.DataFrame(columns=["service", "operation", "start_ns", "self_ms",
                                                                 "failed", "own_failed", "in_window"])
        df: pd.DataFrame = self.cache["operations"]
        return df

    def parts(self) -> Any:
        """The per-request decomposition of latency (``_decompose.Decomposition``), built once."""
        if "decomposition" not in self.cache:
            from infersight.analysis._decompose import decompose

            self.cache["decomposition"] = decompose(self)
        return self.cache["decomposition"]


__all__ = ["WARMUP_NS", "Context"]
