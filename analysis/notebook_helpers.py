"""Small queries and plot helpers the notebooks (``notebooks/*.ipynb``) share.

Every function takes a :class:`~infersight.analysis.Telemetry` (from ``connect(...)``) or the
DataFrames these functions return, so a notebook stays a thin, readable sequence of calls.
Times are integer nanoseconds (``*_ns``) plus pandas UTC timestamps (``start``/``end``/``time``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from infersight.analysis import _intervals, _sql
from infersight.analysis._diagnose import Diagnosis, diagnose
from infersight.analysis._errors import UsageError
from infersight.analysis._telemetry import Telemetry
from infersight.analysis._timeparse import parse_duration_ns

log = logging.getLogger(__name__)

#: feature tables a notebook may read (``features/<name>.sql``)
FEATURES = ("jobs", "runtime_events", "pool_waits", "cache_calls", "client_calls")

_REQUEST_COLUMNS = ("trace_id", "span_id", "service", "instance", "route", "start_ns", "end_ns", "duration_ms",
                    "http_status", "is_error", "gc_pause_ms", "loop_blocked_ms")
_GPU_METRICS = {
    "hw.gpu.utilization": "util", "infersight.gpu.memory.busy": "mem_busy",
    "hw.power": "power_w", "infersight.gpu.power.limit": "power_limit_w", "hw.energy": "energy_j",
    "infersight.gpu.clock.sm": "sm_clock_hz", "infersight.gpu.clock.sm.max": "sm_clock_max_hz",
    "infersight.gpu.throttled": "throttled", "hw.temperature": "temp_c",
    "hw.gpu.memory.usage": "mem_used_b", "hw.gpu.memory.limit": "mem_limit_b",
}


def _times(df: pd.DataFrame) -> pd.DataFrame:
    for col, new in (("start_ns", "start"), ("end_ns", "end"), ("ts_ns", "time")):
        if col in df.columns:
            df[new] = pd.to_datetime(df[col], unit="ns", utc=True)
    return df


def requests(tel: Telemetry, route: str | None = None) -> pd.DataFrame:
    """Entry requests in the window (one row per SERVER span), oldest first, with timestamps.

    Columns include route, duration_ms, is_error, gc_pause_ms (GC pauses the request overlapped)
    and loop_blocked_ms (event-loop blocks it overlapped).
    """
    tel.build_features()
    df = _sql.table(tel.con, "f_requests", order_by="start_ns")
    df = df[[c for c in _REQUEST_COLUMNS if c in df.columns]]
    if route is not None:
        df = df[df["route"] == route].reset_index(drop=True)
    return _times(df)


def feature(tel: Telemetry, name: str) -> pd.DataFrame:
    """One feature table of the window, oldest first: ``jobs`` (job runs), ``runtime_events``
    (GC pauses and event-loop blocks), ``pool_waits``, ``cache_calls`` or ``client_calls``."""
    if name not in FEATURES:
        raise UsageError(f"unknown feature {name!r}; known: {', '.join(FEATURES)}")
    tel.build_features(lazy=f"features/f_{name}")
    # the f_* tables build_features() made (name checked against FEATURES above)
    return _times(_sql.table(tel.con, f"f_{name}", order_by="start_ns"))


def overlaps(reqs: pd.DataFrame, intervals: pd.DataFrame, *, grace_ms: float = 0.0) -> np.ndarray:
    """For each request, whether it overlapped any interval ``[start_ns, end_ns + grace)``."""
    out = np.zeros(len(reqs), dtype=bool)
    if intervals.empty or reqs.empty:
        return out
    iv = (intervals["start_ns"].to_numpy(dtype=np.int64), intervals["end_ns"].to_numpy(dtype=np.int64))
    return _intervals.any_overlap(iv, reqs["start_ns"].to_numpy(dtype=np.int64),
                                  reqs["end_ns"].to_numpy(dtype=np.int64), grace_ns=int(grace_ms * 1e6))
    order = np.argsort(intervals["start_ns"].to_numpy())
    s = intervals["start_ns"].to_numpy(dtype=np.int64)[order]
    e = np.maximum.accumulate(intervals["end_ns"].to_numpy(dtype=np.int64)[order] + int(grace_ms * 1e6))
    rs, re_ = reqs["start_ns"].to_numpy(dtype=np.int64), reqs["end_ns"].to_numpy(dtype=np.int64)
    idx = np.searchsorted(s, re_, side="left") - 1
    ok = idx >= 0
    out[ok] = e[idx[ok]] > rs[ok]
    return out


def latency_summary(reqs: pd.DataFrame, by: str | pd.Series | np.ndarray) -> pd.DataFrame:
    """Requests, P50, P90, P99 and max latency (ms) per group (a column name or a label array)."""
    keys = reqs[by] if isinstance(by, str) else pd.Series(np.asarray(by), index=reqs.index)
    g = reqs["duration_ms"].groupby(keys)
    out = pd.DataFrame({"requests": g.size(), "p50_ms": g.quantile(0.5), "p90_ms": g.quantile(0.9),
                        "p99_ms": g.quantile(0.99), "max_ms": g.max()})
    return out


def label_windows(reqs: pd.DataFrame, windows: Mapping[str, tuple[int, int]], other: str = "outside") -> np.ndarray:
    """A label per request: the name of the ``{name: (start_ns, end_ns)}`` window it started in."""
    labels = np.full(len(reqs), other, dtype=object)
    starts = reqs["start_ns"].to_numpy()
    for name, (lo, hi) in windows.items():
        labels[(starts >= lo) & (starts < hi)] = name
    return labels


def autocorrelation(values: Sequence[float] | np.ndarray | pd.Series, max_lag: int) -> pd.DataFrame:
    """Autocorrelation of an evenly spaced series for lags 1..max_lag (NaNs count as the mean)."""
    x = np.asarray(values, dtype=float)
    x = np.nan_to_num(x - np.nanmean(x)) if len(x) else x
    den = float((x * x).sum())
    rows = []
    for lag in range(1, max(1, min(int(max_lag), len(x) - 2)) + 1):
        acf = float((x[:-lag] * x[lag:]).sum() / den) if den > 0 and lag < len(x) else float("nan")
        rows.append({"lag": lag, "acf": acf})
    return pd.DataFrame(rows, columns=["lag", "acf"])


def job_periods(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per job: runs, median period between run starts (s), its spread, mean duration (ms)."""
    rows = []
    for job, g in jobs.sort_values("start_ns").groupby("job"):
        gaps = np.diff(g["start_ns"].to_numpy()) / 1e9
        rows.append({"job": job, "runs": len(g),
                     "period_s": float(np.median(gaps)) if len(gaps) else float("nan"),
                     "period_cv": float(np.std(gaps) / np.mean(gaps)) if len(gaps) > 1 and np.mean(gaps) > 0
                     else float("nan"),
                     "mean_duration_ms": float(g["duration_ms"].mean()),
                     "mean_rows": float(g["rows"].mean()) if "rows" in g and g["rows"].notna().any() else float("nan")})
    return pd.DataFrame(rows, columns=["job", "runs", "period_s", "period_cv", "mean_duration_ms", "mean_rows"])


def findings_table(result: Telemetry | Diagnosis) -> pd.DataFrame:
    """Ranked findings as a table (runs :func:`diagnose` when given a Telemetry)."""
    d = diagnose(result) if isinstance(result, Telemetry) else result
    rows = [{"category": f.category, "confidence": round(f.confidence, 2), "level": f.level,
             "p99_excess_explained": round(f.excess_share, 3), "title": f.title,
             "chain": " -> ".join(f.chain), "fix": f.remediation[0] if f.remediation else ""}
            for f in d.findings]
    return pd.DataFrame(rows, columns=["category", "confidence", "level", "p99_excess_explained", "title",
                                       "chain", "fix"])


def cache_hit_ratio(tel: Telemetry, step: str = "5s") -> pd.DataFrame:
    """Per cache per step: lookups, hits, hit_ratio, mean miss and hit latency (ms)."""
    tel.build_features()
    df = _sql.run(tel.con, "detectors/cache_windows", step_ns=parse_duration_ns(step), **tel.params)
    return _times(df)


def stampede_evidence(tel: Telemetry, step: str = "5s") -> pd.DataFrame:
    """Per cache per step with misses: misses, misses for a key another request was already
    loading (``concurrent_duplicates``: no single-flight), distinct keys, and the most distinct
    keys that missed in one second (synchronised TTL expiry)."""
    tel.build_features()
    df = _sql.run(tel.con, "detectors/cache_duplicate_misses", step_ns=parse_duration_ns(step), **tel.params)
    return _times(df.sort_values(["cache", "ts_ns"], ignore_index=True))


def in_flight(reqs: pd.DataFrame) -> np.ndarray:
    """How many requests were in flight when each request started (itself included)."""
    if reqs.empty:
        return np.zeros(0, dtype=int)
    starts = np.sort(reqs["start_ns"].to_numpy(dtype=np.int64))
    ends = np.sort(reqs["end_ns"].to_numpy(dtype=np.int64))
    s = reqs["start_ns"].to_numpy(dtype=np.int64)
    counts: np.ndarray = (np.searchsorted(starts, s, side="right") - np.searchsorted(ends, s, side="right")).astype(int)
    return counts


def gpu_samples(tel: Telemetry) -> pd.DataFrame:
    """NVML samples per GPU and export time, one column per signal (util 0..1, power_w, ...).

    Empty when the source has no GPU metrics (no ``instrument_app(app, gpu=True)``).
    """
    df = tel.metrics()
    df = df[df["metric"].isin(list(_GPU_METRICS))]
    if df.empty:
        return pd.DataFrame(columns=["gpu", "ts_ns", "time", *_GPU_METRICS.values()])
    df = df.assign(gpu=[str(a.get("gpu.index", a.get("hw.id", "0"))) if isinstance(a, dict) else "0"
                        for a in df["attrs"]], col=df["metric"].map(_GPU_METRICS))
    wide = df.pivot_table(index=["gpu", "ts_ns"], columns="col", values="value", aggfunc="mean").reset_index()
    wide.columns.name = None
    if "util" in wide and wide["util"].max() > 1.0:
        wide["util"] = wide["util"] / 100.0
    return _times(wide)


def gpu_request_costs(tel: Telemetry) -> pd.DataFrame:
    """Per request: the GPU attribution the instrumentation put on its span (GPU-seconds, joules,
    dollars, tokens, mean utilisation/power, throttled) with its latency and route."""
    tel.build_features()
    return _times(tel.query("features/nb_request_gpu"))


def read_labels(source: str | Path) -> dict[str, Any] | None:
    """The ``labels.json`` a recorded run keeps beside its data (fault/phase windows), if any."""
    p = Path(str(source))
    for cand in (p / "labels.json", p.parent / "labels.json"):
        if cand.is_file():
            data: dict[str, Any] = json.loads(cand.read_text())
            return data
    return None


def label_intervals(labels: Mapping[str, Any] | None, key: str = "faults", name: str = "fault") -> dict[str, tuple[int, int]]:
    """``{name: (start_ns, end_ns)}`` from a labels.json list of windows (``faults`` or ``phases``)."""
    out: dict[str, tuple[int, int]] = {}
    for w in (labels or {}).get(key, []) or []:
        lo = pd.Timestamp(w["start"]).value
        hi = pd.Timestamp(w["end"]).value if w.get("end") else np.iinfo(np.int64).max
        out[str(w[name])] = (int(lo), int(hi))
    return out


def shade(ax: Any, intervals: Iterable[tuple[Any, Any]], *, color: str = "tab:red", alpha: float = 0.15,
          label: str | None = None) -> None:
    """Shade time intervals (ns integers or timestamps) on a matplotlib axis with a time x-axis."""
    first = True
    for lo, hi in intervals:
        lo_t = pd.to_datetime(lo, unit="ns", utc=True) if isinstance(lo, (int, np.integer)) else lo
        hi_t = pd.to_datetime(hi, unit="ns", utc=True) if isinstance(hi, (int, np.integer)) else hi
        ax.axvspan(lo_t, hi_t, color=color, alpha=alpha, lw=0, label=label if first else None)
        first = False


__all__ = [
    "FEATURES",
    "autocorrelation",
    "cache_hit_ratio",
    "feature",
    "findings_table",
    "gpu_request_costs",
    "gpu_samples",
    "in_flight",
    "job_periods",
    "label_intervals",
    "label_windows",
    "latency_summary",
    "overlaps",
    "read_labels",
    "requests",
    "shade",
    "stampede_evidence",
]
