"""Overload the collector with a burst far above its sustainable ingest rate and check that it
sheds load (503 + Retry-After, never 500), stays inside its memory bound, loses nothing it
acknowledged, and ingests again afterwards.

Used by tests/reliability/test_overload.py (short) and benchmarks/reliability/run.py overload.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from benchmarks.ingest.payload import make_request

from ._procs import CollectorProcess, EmbeddedCollectorProcess

PB = {"content-type": "application/x-protobuf"}
SPANS_PER_REQUEST = 512


class Bodies:
    """Protobuf bodies of realistic spans, each with fresh random span ids (so acks are exact)."""

    def __init__(self, spans: int = SPANS_PER_REQUEST) -> None:
        self._req = make_request(spans, seed=7)
        self._spans = [sp for rs in self._req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
        self._lock = threading.Lock()

    def next(self) -> tuple[bytes, list[str]]:
        with self._lock:
            ids = []
            for sp in self._spans:
                sp.span_id = os.urandom(8)
                ids.append(sp.span_id.hex())
            return self._req.SerializeToString(), ids


@dataclass
class OverloadReport:
    sustainable_spans_per_s: float = 0.0
    burst_offered_spans_per_s: float = 0.0
    burst_ratio: float = 0.0
    burst_s: float = 0.0
    concurrency: int = 0
    spans_per_request: int = 0
    max_inflight_mib: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    retry_after_missing: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicates: int = 0
    rss_idle_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_bound_mib: float = 0.0
    recovery_s: float = -1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _measure_sustainable(col: CollectorProcess, bodies: Bodies, seconds: float, acked: set[str]) -> float:
    """Closed loop, 2 senders back to back (one request in decode while the other commits)."""
    n = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        nonlocal n
        with httpx.Client(base_url=col.url, timeout=60) as c:
            while time.monotonic() < deadline:
                body, ids = bodies.next()
                r = c.post("/v1/traces", content=body, headers=PB)
                if r.status_code == 200:
                    with lock:
                        acked.update(ids)
                        n += len(ids)
    t0 = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.monotonic() - t0)


async def _burst(col: CollectorProcess, bodies: Bodies, seconds: float, concurrency: int,
                 acked: set[str], report: OverloadReport) -> float:
    statuses: Counter[str] = Counter()
    attempts = 0
    pre = [bodies.next() for _ in range(concurrency)]
    spans = len(pre[0][1])  # bodies ready: the client must not be the limit

    async def worker(c: httpx.AsyncClient, k: int) -> None:
        nonlocal attempts
        i = k
        while time.monotonic() < deadline:
            body, ids = pre[i % len(pre)]
            attempts += 1  # offered: counted when sent, inside the burst window
            try:
                r = await c.post("/v1/traces", content=body, headers=PB)
            except httpx.TransportError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[str(r.status_code)] += 1
            if r.status_code == 200:
                acked.update(ids)
                pre[i % len(pre)] = bodies.next()  # an acked body is never sent again
            elif r.status_code in (429, 503) and not r.headers.get("retry-after"):
                report.retry_after_missing += 1
            i += concurrency

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=col.url, timeout=60, limits=limits) as client:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(worker(client, k) for k in range(concurrency)))
    report.statuses = dict(statuses)
    return attempts * spans / seconds


def run_overload(workdir: Path, *, sustain_s: float = 5.0, burst_s: float = 10.0, concurrency: int = 96,
                 spans_per_request: int = 8192, rss_bound_mib: float = 1024.0,
                 max_inflight_mib: int | None = None) -> OverloadReport:
    """``max_inflight_mib`` None: the CLI collector with its defaults (128 MiB of request bytes in
    flight); else an embedded ``Collector(max_inflight_bytes=...)`` (a smaller budget: shorter runs)."""
    db = workdir / "overload.duckdb"
    report = OverloadReport(burst_s=burst_s, concurrency=concurrency, spans_per_request=spans_per_request,
                            rss_bound_mib=rss_bound_mib)
    acked: set[str] = set()
    bodies = Bodies(spans_per_request)
    col = (CollectorProcess(db, grpc=False, extra=["--log-level", "warning"]) if max_inflight_mib is None
           else EmbeddedCollectorProcess(db, max_inflight_bytes=max_inflight_mib << 20))
    report.max_inflight_mib = 128 if max_inflight_mib is None else max_inflight_mib
    with col:
        report.rss_idle_mib = col.rss() / 2**20
        peak = [0]
        stop_rss = threading.Event()

        def sample() -> None:
            while not stop_rss.is_set():
                peak[0] = max(peak[0], col.rss())
                time.sleep(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        report.sustainable_spans_per_s = _measure_sustainable(col, bodies, sustain_s, acked)
        report.burst_offered_spans_per_s = asyncio.run(
            _burst(col, bodies, burst_s, concurrency, acked, report))
        report.burst_ratio = report.burst_offered_spans_per_s / max(report.sustainable_spans_per_s, 1.0)
        t0 = time.monotonic()  # recovery: one sender, honouring Retry-After, until 5 requests in a row pass
        ok_in_row = 0
        with httpx.Client(base_url=col.url, timeout=60) as c:
            while ok_in_row < 5 and time.monotonic() - t0 < 120:
                body, ids = bodies.next()
                r = c.post("/v1/traces", content=body, headers=PB)
                if r.status_code == 200:
                    acked.update(ids)
                    ok_in_row += 1
                else:
                    ok_in_row = 0
                    time.sleep(float(r.headers.get("retry-after", "1")))
        if ok_in_row >= 5:
            report.recovery_s = round(time.monotonic() - t0, 2)
        stop_rss.set()
        sampler.join()
        report.rss_peak_mib = round(peak[0] / 2**20, 1)
        report.rss_idle_mib = round(report.rss_idle_mib, 1)
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = [r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()]
    finally:
        con.close()
    stored_set = set(stored)
    report.acknowledged = len(acked)
    report.lost = len(acked - stored_set)
    report.duplicates = len(stored) - len(stored_set)
    report.sustainable_spans_per_s = round(report.sustainable_spans_per_s)
    report.burst_offered_spans_per_s = round(report.burst_offered_spans_per_s)
    report.burst_ratio = round(report.burst_ratio, 2)
    return report
