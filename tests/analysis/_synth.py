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
import pyarrow as pa

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
                spans = _arrow(pd.DataFrame(self.spans))
                con.register("spans_df", spans)
                con.execute("INSERT INTO otel_traces BY NAME SELECT * FROM spans_df")
            if self.points:
                pts = _arrow(pd.DataFrame(self.points))
                con.register("pts_df", pts)
                con.execute("INSERT INTO otel_metrics_gauge BY NAME SELECT * FROM pts_df")
        finally:
            con.close()
        return path


_MAP = pa.map_(pa.string(), pa.string())


def _arrow(df: pd.DataFrame) -> pa.Table:
    """DataFrame -> Arrow with attribute dicts as MAP(VARCHAR, VARCHAR) (DuckDB would guess STRUCT)."""
    cols = {}
    for name in df.columns:
        if name in ("ResourceAttributes", "SpanAttributes", "Attributes"):
            cols[name] = pa.array([list(d.items()) for d in df[name]], type=_MAP)
        elif name == "Events.Attributes":
            cols[name] = pa.array([[list(d.items()) for d in evs] for evs in df[name]], type=pa.list_(_MAP))
        elif name in ("Links.Attributes",):
            cols[name] = pa.array([[] for _ in range(len(df))], type=pa.list_(_MAP))
        else:
            cols[name] = pa.array(df[name].tolist()) if df[name].dtype == object else pa.array(df[name])
    return pa.table(cols)


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


def full_sync(b: Builder, *, seconds: int = 600, period_s: int = 60, run_s: int = 6,
              change_s: int | None = None) -> None:
    """Requests plus a job every ``period_s``; from ``change_s`` on (default: half-way) it pulls the
    whole table: runs of ``run_s`` in which requests see a GC pause and a pool wait (before that,
    quick incremental runs that hurt nobody)."""
    change = seconds // 2 if change_s is None else change_s
    runs = []
    for k in range(seconds // period_s):
        st = T0 + (k * period_s + 20) * S
        full = (st - T0) >= change * S
        tid = b.new_id(32)
        b.span(tid, "payments_full_sync", st, (run_s * S) if full else 200 * MS,
               attrs={"infersight.job.name": "payments_full_sync", "infersight.job.rows": "500000" if full else "900"})
        if full:
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


FAULT_START_S, FAULT_END_S = 200, 400


def with_fault(b: Builder, fault: str, *, seconds: int = 600, rps: float = 5.0) -> None:
    """Requests (each with a cache lookup, a pool acquire and a downstream call) over ``seconds``;
    between FAULT_START_S and FAULT_END_S the named fault adds its mechanism's delay.

    fault: clean | gc | loop | pool | downstream | stampede | miss_storm | gpu_throttle | gpu_busy
    """
    n = int(seconds * rps)
    starts = T0 + np.sort(b.rng.uniform(0, seconds * S, n)).astype(np.int64)
    f0, f1 = T0 + FAULT_START_S * S, T0 + FAULT_END_S * S
    hot_keys = [f"k{i}" for i in range(20)]
    for st in (int(x) for x in starts):
        on = fault != "clean" and f0 <= st < f1
        own = b.rng.lognormal(np.log(20), 0.25) * MS
        gc_ms = float(b.rng.uniform(100, 300)) if on and fault == "gc" else float(b.rng.uniform(0, 0.5))
        loop_ms = float(b.rng.uniform(100, 300)) if on and fault == "loop" else 0.0
        wait_ms = float(b.rng.uniform(100, 300)) if on and fault == "pool" else float(b.rng.uniform(0, 0.3))
        down_ms = float(b.rng.lognormal(np.log(15), 0.2)) * (10 if on and fault == "downstream" else 1)
        key = hot_keys[int(b.rng.integers(0, len(hot_keys)))]
        storm = on and fault in ("stampede", "miss_storm")
        hit = bool(b.rng.random() < (0.1 if storm else 0.9))
        cache_ms = 0.2 if hit else float(b.rng.uniform(80, 200)) if storm else float(b.rng.uniform(10, 20))
        if storm and fault == "miss_storm":
            key = f"{key}-{b.new_id()}"  # distinct keys: a flush/shrink, not a stampede
        if storm and fault == "stampede":
            key, cache_ms = hot_keys[0], float(b.rng.uniform(300, 600))  # one hot key, no single-flight
        t = st
        total = own + (gc_ms + loop_ms + wait_ms + down_ms + cache_ms) * MS
        attrs = {"infersight.gc.pause_ms": f"{gc_ms:.3f}"}
        ev = [(st, "event_loop.blocked", {"lag_ms": f"{loop_ms:.1f}", "stack": 'File "/app/mod.py", line 7, in scan'})] if loop_ms else []
        tid, sid = b.request("/v1/predict", st, int(total), attrs=attrs, events=ev)
        b.span(tid, "cache.lookup answers", t, int(cache_ms * MS), parent=sid,
               attrs={"cache.name": "answers", "cache.hit": "true" if hit else "false", "cache.key_hash": key})
        t += int(cache_ms * MS)
        b.span(tid, "pool.acquire", t, int(wait_ms * MS), parent=sid,
               attrs={"db.client.connection.pool.name": "payments_db",
                      "db.client.connection.wait_time": f"{wait_ms / 1e3:.6f}"})
        t += int(wait_ms * MS)
        b.span(tid, "POST /score", t, int(down_ms * MS), parent=sid, kind="Client",
               attrs={"server.address": "risk-service"})
    for k in range(0, seconds, 5):
        ts = T0 + k * S
        on = f0 <= ts < f1
        busy = fault == "gpu_busy" and on
        throttled = fault == "gpu_throttle" and on
        g = {"gpu.index": "0", "hw.id": "GPU-1"}
        b.gauge("hw.gpu.utilization", ts, 0.99 if busy else 0.5 + 0.1 * float(b.rng.random()), g)
        b.gauge("infersight.gpu.clock.sm", ts, 900e6 if throttled else 1980e6, g)
        b.gauge("infersight.gpu.clock.sm.max", ts, 1980e6, g)
        b.gauge("infersight.gpu.throttled", ts, 1.0 if throttled else 0.0, g)
        # the GPU plane's attribute name for the decoded reason (instrument/gpu/_otel.py)
        b.gauge("infersight.gpu.clock_event.active", ts, 1.0 if throttled else 0.0,
                {**g, "infersight.gpu.clock_event.reason": "sw_power_cap"})
        b.gauge("hw.gpu.memory.usage", ts, 30e9, g)
        b.gauge("hw.gpu.memory.limit", ts, 80e9, g)
    if fault in ("gpu_busy", "gpu_throttle"):
        # requests in the affected steps are slower (the model step runs longer)
        for s in b.spans:
            ts = s["Timestamp"].value
            if s["SpanKind"] == "Server" and f0 <= ts < f1:
                s["Duration"] = int(s["Duration"] * 6)
