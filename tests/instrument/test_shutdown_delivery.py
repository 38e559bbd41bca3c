"""Spans at shutdown: every span of a request that completed before telemetry shut down reaches
a healthy collector, and every one that cannot be delivered is counted as dropped.

Real parts throughout: ``infersight collect`` as a child process writing DuckDB, a real
uvicorn model server with the lean path (infersight-owned providers), real HTTP clients. The
collectors that fail (answer 503, answer too slowly for the shutdown budget) are small real
OTLP/HTTP servers, since the real collector cannot be told to misbehave.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from infersight.instrument import configure, instrument_app, uninstrument_app
from infersight.instrument.export._processor import dropped_spans_total
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from tests.conftest import free_port
from tests.instrument.conftest import make_app, read_body, serve

pytestmark = pytest.mark.integration

ROUTE = "GET /items/{item_id}"


@contextmanager
def real_collector(db: Path) -> Iterator[str]:
    port = free_port()
    log = db.with_suffix(".log")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infersight.cli", "collect", "--db", str(db), "--http-port", str(port),
             "--grpc-port", "-1", "--workers", "0", "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"collector exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("collector did not become healthy")
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung collector
            proc.kill()
            proc.wait(10)


class FailingCollector:
    """OTLP/HTTP traces endpoint that answers ``status`` after ``delay_s``; counts spans it took (200)."""

    def __init__(self, status: int, delay_s: float = 0.0) -> None:
        self.status, self.delay_s = status, delay_s
        self.accepted = 0
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = await read_body(receive)
        self.requests += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        n = 0
        if scope["path"] == "/v1/traces":
            req = ExportTraceServiceRequest.FromString(body)
            n = sum(1 for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans
                    if sp.name == ROUTE)
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/x-protobuf")]})
        await send({"type": "http.response.body", "body": b""})
        if self.status == 200:
            self.accepted += n


def _serve_until_shutdown(endpoint: str, *, clients: int, seconds: float, shutdown_timeout_s: float,
                          schedule_delay_ms: float = 1000.0, per_client: int | None = None) -> tuple[int, int]:
    """Serve /items under load right up to the end (``seconds``, or ``per_client`` requests per
    client), then stop the server and shut telemetry down.

    Returns (requests served with 200, dropped-span delta). The providers are infersight's own
    (``configure()``), so the request spans take the lean path.
    """
    tel = configure("shutdown-test", endpoint=endpoint, export_interval_s=60.0,
                    schedule_delay_ms=schedule_delay_ms, set_global=False)
    app = make_app()
    dropped0 = dropped_spans_total()
    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False, gc=False, loop_lag=False)
    assert state._lean is not None, "the test needs the lean path (infersight-owned providers)"
    served = [0] * clients
    stop = threading.Event()
    try:
        with serve(app) as base:
            def client(k: int) -> None:
                with httpx.Client(base_url=base, timeout=10) as c:
                    i = 0
                    while not stop.is_set() and (per_client is None or i < per_client):
                        if c.get(f"/items/{k * 1_000_000 + i}").status_code == 200:
                            served[k] += 1
                        i += 1

            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + seconds
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            stop.set()  # the last requests complete while the server is being stopped below
            for t in threads:
                t.join(30)
    finally:
        uninstrument_app(app)
        tel.shutdown(timeout_s=shutdown_timeout_s)
        worker = tel.span_processor._batch_processor._worker_thread  # type: ignore[attr-defined]
        worker.join(30)  # an export still in flight settles (delivered or counted)
    return sum(served), dropped_spans_total() - dropped0


def test_every_span_reaches_a_healthy_collector(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with real_collector(db) as url:
        # a long schedule delay: at shutdown ~3 s of spans are still queued and must be flushed
        served, dropped = _serve_until_shutdown(url, clients=4, seconds=3.0, shutdown_timeout_s=10.0,
                                                schedule_delay_ms=10_000)
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute('SELECT count(*) FROM otel_traces WHERE "SpanName" = ?', [ROUTE]).fetchone()
    con.close()
    assert served > 50
    assert stored is not None and stored[0] == served, f"served {served}, stored {stored}"
    assert dropped == 0


@pytest.mark.parametrize(("status", "delay_s", "shutdown_timeout_s"), [
    (503, 0.0, 1.0),   # the collector refuses every batch
    (200, 1.5, 0.5),   # healthy but slower than the shutdown budget: the queue is left behind
], ids=["collector-refuses", "shutdown-budget-too-short"])
def test_spans_that_cannot_be_delivered_are_counted(status: int, delay_s: float,
                                                    shutdown_timeout_s: float) -> None:
    collector = FailingCollector(status, delay_s)
    with serve(collector) as url:
        # 800 spans under a 10 s schedule delay: most of them are queued at shutdown, fewer than
        # the queue holds (nothing is overwritten), so every loss is an undelivered span.
        served, dropped = _serve_until_shutdown(url, clients=2, seconds=60.0, per_client=400,
                                                shutdown_timeout_s=shutdown_timeout_s,
                                                schedule_delay_ms=10_000)
    assert served == 800
    assert collector.requests >= 1, "the exporter should have tried"
    assert dropped > 0
    assert collector.accepted + dropped == served, \
        f"served {served} = delivered {collector.accepted} + dropped {dropped} must hold"


def test_spans_ended_after_shutdown_are_counted() -> None:
    tel = configure("late", endpoint=f"http://127.0.0.1:{free_port()}", export_interval_s=60.0, set_global=False)
    app = make_app()
    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False, gc=False, loop_lag=False)
    assert state._lean is not None
    lean = state._lean.start_span("GET /late", None, SpanKind.SERVER, {})
    sdk = tel.tracer_provider.get_tracer("t").start_span("job")
    uninstrument_app(app)
    tel.shutdown(timeout_s=1.0)
    before = dropped_spans_total()
    lean.end()
    sdk.end()
    assert dropped_spans_total() - before == 2
