"""A server stopped the way uvicorn stops on SIGTERM (lifespan shutdown, then the signal is
re-raised: no atexit runs) still exports what infersight's own exporters held."""

from __future__ import annotations

import httpx
import pytest
from infersight.instrument import configure, instrument_app, uninstrument_app
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import OtlpReceiver, make_app, serve

pytestmark = pytest.mark.integration


def test_lifespan_shutdown_flushes_spans_and_metrics(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    receiver, url = otlp_receiver
    # a minute of batching for both signals: only the shutdown flush can deliver them in time
    tel = configure("lifespan", endpoint=url, schedule_delay_ms=60_000, export_interval_s=60.0,
                    set_global=False)
    app = make_app()
    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False, gc=False, loop_lag=False)
    state._flushers.append(tel.flush)  # what instrument_app registers for providers it builds itself
    try:
        with serve(app) as base:
            assert httpx.get(f"{base}/items/7").status_code == 200
            assert "/v1/traces" not in receiver.bodies  # still batched
        names = [span.name for _, _, span in receiver.spans()]
        assert names == ["GET /items/{item_id}"]
        assert receiver.bodies.get("/v1/metrics")
    finally:
        uninstrument_app(app)
        tel.shutdown()
