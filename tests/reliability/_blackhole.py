"""The instrumented demo server under load while its collector is a black hole (accepts TCP,
never answers), side by side with the same server exporting to a healthy collector; then the
collector comes back on the black hole's port and the server's spans arrive again.

Used by tests/reliability/test_blackhole.py (20 s) and benchmarks/reliability/run.py blackhole.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from tests._servers import BlackHole
from tests.conftest import free_port

from ._procs import CollectorProcess, tree_rss_bytes


class DemoServer:
    def __init__(self, workdir: Path, name: str, otlp: str) -> None:
        self.port = free_port()
        self.name = name
        self.url = f"http://127.0.0.1:{self.port}"
        data = workdir / f"data-{name}"
        data.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"demo-{name}.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "infersight.cli", "demo", "serve", "--port", str(self.port),
                 "--otlp-endpoint", otlp, "--rows", "20000", "--data-dir", str(data),
                 "--service-name", f"demo-{name}"],
                stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text()[-2000:])
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"demo server {name} did not start")

    def metric(self, name: str) -> float:
        text = httpx.get(self.url + "/metrics", timeout=10).text
        m = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else float("nan")

    def rss(self) -> int:
        return tree_rss_bytes(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@dataclass
class BlackHoleReport:
    seconds: float
    rate_per_server: float
    healthy: dict[str, Any] = field(default_factory=dict)
    blackholed: dict[str, Any] = field(default_factory=dict)
    p99_ratio: float = 0.0
    p50_ratio: float = 0.0
    rss_mib: list[float] = field(default_factory=list)
    rss_first_half_max_mib: float = 0.0
    rss_second_half_max_mib: float = 0.0
    rss_healthy_twin_max_mib: float = 0.0
    dropped_spans: float = 0.0
    healthy_twin_spans: int = 0
    black_hole_connections: int = 0
    recovered_spans: int = 0
    recovery_s: float = -1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(s: Any) -> dict[str, Any]:
    return {"requests": s.requests, "ok": s.ok, "errors": s.errors, "achieved_rps": round(s.achieved_rps, 2),
            "latency_ms": s.latency_ms}


async def _load_both(a: str, b: str, rate: float, seconds: float) -> tuple[Any, Any]:
    from infersight.demo._load import LoadConfig, run_load

    return tuple(await asyncio.gather(run_load(LoadConfig(url=a, rate=rate, duration=seconds, seed=1)),
                                      run_load(LoadConfig(url=b, rate=rate, duration=seconds, seed=1))))


def run_blackhole(workdir: Path, *, seconds: float = 20.0, rate: float = 3.0) -> BlackHoleReport:
    report = BlackHoleReport(seconds=seconds, rate_per_server=rate)
    hole = BlackHole()
    healthy_col = CollectorProcess(workdir / "healthy.duckdb", grpc=False, extra=["--workers", "0"])
    healthy_col.start()
    servers: list[DemoServer] = []
    back: CollectorProcess | None = None
    try:
        good = DemoServer(workdir, "healthy", healthy_col.url)
        servers.append(good)
        bad = DemoServer(workdir, "blackholed", f"http://127.0.0.1:{hole.port}")
        servers.append(bad)
        samples: list[float] = []
        twin: list[float] = []  # the healthy twin under the same load: the demo's own growth
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append(bad.rss() / 2**20)
                twin.append(good.rss() / 2**20)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sa, sb = asyncio.run(_load_both(good.url, bad.url, rate, seconds))
        stop.set()
        sampler.join()
        report.healthy, report.blackholed = _summary(sa), _summary(sb)
        pa, pb = sa.latency_ms.get("p99"), sb.latency_ms.get("p99")
        if pa and pb:
            report.p99_ratio = round(pb / pa, 3)
        ma, mb = sa.latency_ms.get("p50"), sb.latency_ms.get("p50")
        if ma and mb:
            report.p50_ratio = round(mb / ma, 3)
        half = len(samples) // 2
        report.rss_mib = [round(x, 1) for x in samples[:: max(1, len(samples) // 60)]]
        report.rss_first_half_max_mib = round(max(samples[:half] or [0.0]), 1)
        report.rss_second_half_max_mib = round(max(samples[half:] or [0.0]), 1)
        report.rss_healthy_twin_max_mib = round(max(twin or [0.0]), 1)
        report.dropped_spans = bad.metric("infersight_exporter_dropped_spans_total")
        report.black_hole_connections = len(hole.accepted)

        # the collector returns on the same port: the server's next spans must arrive
        hole.close()
        back = CollectorProcess(workdir / "back.duckdb", grpc=False, extra=["--workers", "0"], http_port=hole.port)
        back.start()
        t0 = time.monotonic()
        with httpx.Client(timeout=30) as c:
            while time.monotonic() - t0 < 90:
                c.post(bad.url + "/v1/embeddings", json={"model": "demo", "input": f"recovery {time.monotonic()}"})
                n = _count_service(back, "demo-blackholed")
                if n:
                    report.recovered_spans = n
                    report.recovery_s = round(time.monotonic() - t0, 2)
                    break
                time.sleep(0.5)
        good.stop()  # flushes: the healthy twin's collector then holds what one server offers
        report.healthy_twin_spans = _count_service(healthy_col, "demo-healthy")
    finally:
        for s in servers:
            s.stop()
        hole.close()
        healthy_col.stop()
        if back is not None:
            back.stop()
    return report


def _count_service(col: CollectorProcess, service: str) -> int:
    from infersight.collectors import open_readonly

    con: duckdb.DuckDBPyConnection = open_readonly(col.url)
    try:
        row = con.execute('SELECT count(*) FROM otel_traces WHERE "ServiceName" = ?', [service]).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()
