"""Instrumentation faults inside a real uvicorn server: NVML errors mid-run, a request hook that
raises, an exporter that raises, fork() after instrumenting. The requests still succeed; each
fault is counted and logged once (not once per request)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from fastapi import FastAPI
from infersight.instrument import GpuOptions, configure, instrument_app, uninstrument_app
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from tests.conftest import free_port
from tests.instrument.conftest import serve
from tests.instrument.gpu.fake_nvml import NVML_ERROR_UNKNOWN, FakeGpu, FakeNvml

from ._procs import CollectorProcess

pytestmark = pytest.mark.integration


class _BrokenExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise ConnectionError("exporter is broken")

    def shutdown(self) -> None:
        pass


class _RaisingHook:
    def on_request_start(self, span: Any, start_ns: int) -> Any:
        raise ValueError("user hook bug")

    def on_request_end(self, span: Any, state: Any, start_ns: int, end_ns: int) -> None:
        raise ValueError("user hook bug")


def _sample(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_nvml_hook_and_exporter_faults_never_fail_a_request(caplog: pytest.LogCaptureFixture) -> None:
    exporter = _BrokenExporter()
    tel = configure("faults", span_exporter=exporter, metric_reader=InMemoryMetricReader(),
                    schedule_delay_ms=10, set_global=False)
    gpu = FakeGpu(util_gpu=50, power_mw=300_000)
    nvml = FakeNvml([gpu])
    app = FastAPI()

    @app.get("/infer/{n}")
    async def infer(n: int) -> dict[str, int]:
        return {"n": n}

    registry = CollectorRegistry()
    with caplog.at_level(logging.WARNING):
        state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                               registry=registry, gpu=GpuOptions(nvml=nvml, interval_s=0.01),
                               instrument_clients=False)
        state.hooks.append(_RaisingHook())
        codes = []
        try:
            with serve(app) as base, httpx.Client(base_url=base, timeout=10) as c:
                for i in range(60):
                    if i == 20:
                        gpu.fail["nvmlDeviceGetPowerUsage"] = NVML_ERROR_UNKNOWN  # a field starts failing
                    if i == 40:
                        gpu.lost = True  # then the whole GPU falls off the bus
                    codes.append(c.get(f"/infer/{i}").status_code)
                    time.sleep(0.01)
                deadline = time.monotonic() + 10
                while exporter.calls < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                metrics = c.get("/metrics").text
        finally:
            uninstrument_app(app)
            tel.shutdown(timeout_s=5)
    assert codes == [200] * 60
    assert exporter.calls >= 3, "the broken exporter was never called"
    assert _sample(metrics, 'infersight_hook_errors_total{hook="_RaisingHook"}') == 120  # start + end, 60 requests
    assert _sample(metrics, "infersight_gpu_up ") == 0.0, "a lost GPU must show as down"
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    lost_logs = [m for m in msgs if "lost" in m.lower()]
    assert 1 <= len(lost_logs) <= 2, lost_logs
    export_logs = [m for m in msgs if "export" in m.lower()]
    assert 1 <= len(export_logs) <= 3, f"exporter failures logged {len(export_logs)} times: {export_logs[:5]}"
    hook_logs = [m for m in msgs if "_RaisingHook" in m or "user hook bug" in m]
    assert len(hook_logs) == 2, f"logged once per phase (start, end), not per request: {hook_logs[:3]}"



_WORKERS = textwrap.dedent("""
    import os, sys, signal, time
    import uvicorn
    from fastapi import FastAPI
    from infersight.instrument import configure, instrument_app
    from prometheus_client import CollectorRegistry

    endpoint, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    tel = configure("forked", endpoint=endpoint, schedule_delay_ms=20, export_interval_s=0.5, set_global=False)
    app = FastAPI()

    @app.get("/who/{tag}")
    async def who(tag: str):
        return {"pid": os.getpid()}

    instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                   registry=CollectorRegistry(), instrument_clients=False)
    children = []
    for port in ports:  # instrument first, then fork the workers (gunicorn --preload style)
        pid = os.fork()
        if pid == 0:
            def stop(*_):
                tel.shutdown(timeout_s=5)
                os._exit(0)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            server.install_signal_handlers = lambda: None
            signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
            server.run()
            stop()
        children.append(pid)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: None)
    for pid in children:
        os.waitpid(pid, 0)
""")


def test_forked_workers_serve_and_export_their_own_spans(tmp_path: Path) -> None:
    db = tmp_path / "fork.duckdb"
    with CollectorProcess(db, grpc=False, extra=["--workers", "0"]) as col:
        ports = [free_port(), free_port()]
        errlog = tmp_path / "workers.log"
        with open(errlog, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", _WORKERS, col.url, *map(str, ports)],
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            pids = set()
            with httpx.Client(timeout=10) as c:
                for k, port in enumerate(ports):
                    deadline = time.monotonic() + 60
                    while True:
                        try:
                            r = c.get(f"http://127.0.0.1:{port}/who/w{k}")
                            break
                        except httpx.TransportError:
                            assert time.monotonic() < deadline and proc.poll() is None, errlog.read_text()
                            time.sleep(0.1)
                    for _ in range(10):
                        r = c.get(f"http://127.0.0.1:{port}/who/w{k}")
                        assert r.status_code == 200
                    pids.add(r.json()["pid"])
            assert len(pids) == 2 and proc.pid not in pids
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        stderr = errlog.read_text()
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("""SELECT "SpanAttributes"['url.path'] AS p, count(*) FROM otel_traces
                              WHERE "ServiceName" = 'forked' GROUP BY p ORDER BY p""").fetchall()
    finally:
        con.close()
    assert rows == [("/who/w0", 11), ("/who/w1", 11)], (rows, stderr[-2000:])
