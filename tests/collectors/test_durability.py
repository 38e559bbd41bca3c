"""kill -9 the collector while real SDK exporters send: every acknowledged span survives a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from infersight.collectors import open_readonly
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..conftest import free_port

pytestmark = pytest.mark.integration


class _Keep(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def _start(db: Path, http_port: int, grpc_port: int) -> subprocess.Popen[bytes]:
    log = open(db.with_suffix(".log"), "ab")  # noqa: SIM115 - the child keeps writing to it
    proc = subprocess.Popen([sys.executable, "-m", "infersight.cli", "collect", "--db", str(db),
                             "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(db.with_suffix(".log").read_text())
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("collector did not become ready")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _send_until_failure(exporter: SpanExporter, tp: TracerProvider, keep: _Keep, acked: set[str],
                        lock: threading.Lock, stop: threading.Event, name: str) -> None:
    tracer = tp.get_tracer("durability")
    while not stop.is_set():
        with lock:
            for i in range(200):  # ~40 KB bodies: decoded in the worker process
                with tracer.start_as_current_span(f"{name}-{i}"):
                    pass
            batch = list(keep.spans)
            keep.spans.clear()
        if exporter.export(batch) is not SpanExportResult.SUCCESS:
            return
        with lock:
            acked.update(format(s.context.span_id, "016x") for s in batch if s.context)


def test_kill9_keeps_every_acknowledged_span(tmp_path: Path) -> None:
    db = tmp_path / "durable.duckdb"
    http_port, grpc_port = free_port(), free_port()
    proc = _start(db, http_port, grpc_port)
    keep = _Keep()
    tp = TracerProvider(resource=Resource.create({"service.name": "durability"}))
    tp.add_span_processor(keep)
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    exporters: list[SpanExporter] = [
        HttpSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces", timeout=2),
        GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=2),
    ]
    threads = [threading.Thread(target=_send_until_failure, args=(e, tp, keep, acked, lock, stop, n))
               for e, n in zip(exporters, ("http", "grpc"), strict=True)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 6000 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = _children(proc.pid)
        assert workers, "the collector runs decode worker processes by default"
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight right now
        proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        for e in exporters:
            e.shutdown()
    assert len(acked) >= 6000, "too few spans acknowledged before the kill to make the test meaningful"

    port = free_port()
    proc = _start(db, port, free_port())  # restart on the same file: WAL replay
    try:
        con = open_readonly(f"http://127.0.0.1:{port}")  # live read from the running collector
        live = {r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()}
        con.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    con = open_readonly(db)  # and the file itself after a clean stop
    stored = {r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()}
    con.close()
    assert not acked - live, f"{len(acked - live)} acknowledged spans lost after kill -9"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "decode workers outlived a kill -9"
    assert stored == live
