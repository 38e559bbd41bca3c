"""Small hand-made telemetry for unit tests of the SQL and the algorithms.

Writes real DuckDB files with the collectors' schema (collectors/schema.sql). The detectors'
accuracy is tested on the demo's real labelled runs (test_accuracy.py), not on this.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

MS = 1_000_000
S = 1_000_000_000
T0 = 1_764_000_000 * S  # 2025-11-24T16:00:00Z


@dataclass
class Builder:
    seed: int = 1
    spans: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._ids = itertools.count(1)

    def new_id(self, width: int = 16) -> str:
        return f"{next(self._ids):0{width}x}"

    def span(self, trace_id: str, name: str, start_ns: int, dur_ns: int, *, parent: str | None = None,
             kind: str = "Internal", service: str = "model-server", attrs: dict[str, str] | None = None,
             events: list[tuple[int, str, dict[str, str]]] | None = None, status: str = "Unset",
             span_id: str | None = None, resource: dict[str, str] | None = None) -> str:
        sid = span_id or self.new_id()
        ev = events or []
        self.spans.append({
            "Timestamp": pd.Timestamp(int(start_ns), unit="ns"), "TraceId": trace_id, "SpanId": sid,
            "ParentSpanId": parent or "", "TraceState": "", "SpanName": name, "SpanKind": kind,
            "ServiceName": service, "ResourceAttributes": resource or {"service.name": service},
            "ScopeName": "synth", "ScopeVersion": "0", "SpanAttributes": attrs or {},
            "Duration": int(dur_ns), "StatusCode": status, "StatusMessage": "",
            "Events.Timestamp": [pd.Timestamp(int(t), unit="ns") for t, _, _ in ev],
            "Events.Name": [n for _, n, _ in ev], "Events.Attributes": [a for _, _, a in ev],
            "Links.TraceId": [], "Links.SpanId": [], "Links.TraceState": [], "Links.Attributes": [],
        })
        return sid

    def request(self, route: str, start_ns: int, dur_ns: int, *, attrs: dict[str, str] | None = None,
                events: list[tuple[int, str, dict[str, str]]] | None = None, status: int = 200,
                service: str = "model-server", resource: dict[str, str] | None = None) -> tuple[str, str]:
        tid = self.new_id(32)
        a = {"http.route": route, "http.request.method": "POST", "http.response.status_code": str(status)}
        a.update(attrs or {})
        sid = self.span(tid, f"POST {route}", start_ns, dur_ns, kind="Server", attrs=a, events=events,
                        status="Error" if status >= 500 else "Unset", service=service, resource=resource)
        return tid, sid

    def gauge(self, metric: str, ts_ns: int, value: float, attrs: dict[str, str] | None = None) -> None:
        self.points.append({"MetricName": metric, "TimeUnix": pd.Timestamp(int(ts_ns), unit="ns"),
                            "Value": float(value), "Attributes": attrs or {}, "ServiceName": "model-server"})

    def write(self, path: Path, *, schema_version: int = 1) -> Path:
        ddl = resources.files("infersight.collectors").joinpath("schema.sql").read_text()
        con = duckdb.connect(str(path))
        try:
            con.execute(ddl)
            con.execute("INSERT INTO infersight_schema (version) VALUES (?)", [schema_version])
            if self.spans:
                spans = pd.DataFrame(self.spans)
                con.register("spans_df", spans)
                con.execute("INSERT INTO otel_traces BY NAME SELECT * FROM spans_df")
            if self.points:
                pts = pd.DataFrame(self.points)
                con.register("pts_df", pts)
                con.execute("INSERT INTO otel_metrics_gauge BY NAME SELECT * FROM pts_df")
        finally:
            con.close()
        return path


def steady_requests(b: Builder, *, seconds: int = 600, rps: float = 5.0, route: str = "/v1/predict",
                    median_ms: float = 40.0, start_ns: int = T0) -> list[tuple[str, str, int, int]]:
    """Poisson arrivals with lognormal latency; returns (trace_id, span_id, start_ns, dur_ns)."""
    n = int(seconds * rps)
    starts = start_ns + np.sort(b.rng.uniform(0, seconds * S, n)).astype(np.int64)
    durs = (b.rng.lognormal(np.log(median_ms), 0.25, n) * MS).astype(np.int64)
    out = []
    for st, du in zip(starts, durs, strict=True):
        tid, sid = b.request(route, int(st), int(du))
        out.append((tid, sid, int(st), int(du)))
    return out


def full_sync(b: Builder, *, seconds: int = 600, period_s: int = 60, run_s: int = 6) -> None:
    """Requests plus a job every ``period_s``; requests inside a run see a GC pause and a pool wait."""
    runs = []
    for k in range(seconds // period_s):
        st = T0 + (k * period_s + 20) * S
        tid = b.new_id(32)
        b.span(tid, "payments_full_sync", st, run_s * S, attrs={"infersight.job.name": "payments_full_sync",
                                                                 "infersight.job.rows": "500000"})
        runs.append((st, st + run_s * S))
    n = int(seconds * 5)
    starts = T0 + np.sort(b.rng.uniform(0, seconds * S, n)).astype(np.int64)
    for st in starts:
        st = int(st)
        inside = any(a <= st < z for a, z in runs)
        base = int(b.rng.lognormal(np.log(40), 0.25) * MS)
        gc_ms = float(b.rng.uniform(150, 400)) if inside else 0.0
        wait_ms = float(b.rng.uniform(50, 200)) if inside else 0.1
        dur = base + int((gc_ms + wait_ms) * MS)
        ev = [(st + MS, "gc.pause", {"generation": "2", "duration_ms": f"{gc_ms:.1f}"})] if inside else []
        tid, sid = b.request("/v1/predict", st, dur, attrs={"infersight.gc.pause_ms": f"{gc_ms:.2f}"}, events=ev)
        b.span(tid, "pool.acquire", st + int(gc_ms * MS), int(wait_ms * MS), parent=sid,
               attrs={"db.client.connection.pool.name": "payments_db"})
