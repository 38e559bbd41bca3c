"""A real uvicorn server keeps serving at full speed when the collector is black-holed or down."""

from __future__ import annotations

import time

import httpx
import pytest
from infersight.instrument import configure, instrument_app, uninstrument_app
from infersight.instrument.export._processor import dropped_spans_total
from prometheus_client import CollectorRegistry

from tests._servers import BlackHole
from tests.conftest import free_port
from tests.instrument.conftest import make_app, serve

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("collector", ["black-hole", "closed-port"])
def test_requests_never_wait_for_a_broken_collector(collector: str) -> None:
    hole = BlackHole() if collector == "black-hole" else None
    port = hole.port if hole is not None else free_port()  # nothing listens on a fresh free port
    export_timeout_s = 4.0
    tel = configure("down-test", endpoint=f"http://127.0.0.1:{port}", export_timeout_s=export_timeout_s,
                    export_interval_s=0.2, max_queue_size=32, max_export_batch_size=8,
                    schedule_delay_ms=20, set_global=False)
    app = make_app()
    registry = CollectorRegistry()
    instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                   registry=registry, instrument_clients=False)
    dropped0 = dropped_spans_total()
    latencies: list[float] = []
    try:
        with serve(app) as base, httpx.Client(base_url=base, timeout=export_timeout_s / 2) as client:
            for i in range(300):
                t0 = time.perf_counter()
                resp = client.get(f"/items/{i}")
                latencies.append(time.perf_counter() - t0)
                assert resp.status_code == 200
            metrics = client.get("/metrics").text
            if hole is not None:
                assert hole.accepted, "the exporter should have connected to the black hole"
    finally:
        if hole is not None:
            hole.close()
        uninstrument_app(app)
        t0 = time.perf_counter()
        tel.shutdown(timeout_s=1.0)
        shutdown_s = time.perf_counter() - t0
    # Every request finished well inside one export timeout: none waited on the exporter
    # (a client timeout of export_timeout_s / 2 would have raised otherwise).
    assert len(latencies) == 300
    assert shutdown_s < 30, "shutdown must be bounded even when the collector never answers"
    assert dropped_spans_total() - dropped0 > 0, \
        "300 spans into a 32-slot queue with a dead collector must drop, not block or grow"
    assert 'http_server_requests_total{http_request_method="GET",http_route="/items/{item_id}"' in metrics
