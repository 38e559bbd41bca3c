"""The load generator is open loop: a server stall shows up in every request scheduled during it."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from infersight.demo import DemoConfigError, LoadConfig, run_load

from tests.demo.conftest import serve


def stalling_app(stall_at: float, stall_s: float) -> FastAPI:
    app = FastAPI()
    state = {"t0": None, "stalled": False}

    @app.post("/v1/chat/completions")
    async def chat() -> dict[str, str]:
        now = time.monotonic()
        state["t0"] = state["t0"] or now
        if not state["stalled"] and now - state["t0"] >= stall_at:
            state["stalled"] = True
            time.sleep(stall_s)  # blocks the event loop: nothing else is served meanwhile
        return {"ok": "yes"}

    @app.post("/v1/embeddings")
    async def emb() -> dict[str, str]:
        return await chat()

    return app


@pytest.mark.integration
def test_latency_counts_from_the_scheduled_time(port: int) -> None:
    with serve(stalling_app(stall_at=0.5, stall_s=2.0), port) as url:
        cfg = LoadConfig(url=url, rate=20, duration=3.0, seed=1)
        summary = asyncio.run(run_load(cfg))
    assert summary.ok == summary.requests > 30
    slow = [t for t in summary.timeline if t["p50_ms"] is not None and t["p50_ms"] > 500]
    # a closed-loop client would record ONE slow request; open loop: everything sent during the stall
    assert sum(t["n"] for t in slow) >= 10
    assert summary.latency_ms["max"] is not None and summary.latency_ms["max"] >= 1500
    assert summary.latency_ms["p99"] is not None and summary.latency_ms["p99"] >= 1000


@pytest.mark.integration
def test_unreachable_server_counts_errors_and_loses_nothing(port: int) -> None:
    cfg = LoadConfig(url=f"http://127.0.0.1:{port}", rate=20, duration=0.5, seed=2, timeout=2)
    summary = asyncio.run(run_load(cfg))
    assert summary.ok == 0 and summary.requests > 0
    assert sum(summary.errors.values()) == summary.requests


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(DemoConfigError, match="rate"):
        LoadConfig(url="http://127.0.0.1:1", rate=0)
    with pytest.raises(DemoConfigError, match="URL"):
        LoadConfig(url="localhost:8000")


def test_ramp_and_mix_are_deterministic() -> None:
    cfg = LoadConfig(url="http://x", rate=5, ramp_to=15, duration=10, seed=4)
    assert cfg.rate_at(0) == 5 and cfg.rate_at(5) == 10 and cfg.rate_at(10) == 15
    from infersight.demo._load import _Mix

    a = [_Mix(cfg).next() for _ in range(1)]
    b = [_Mix(cfg).next() for _ in range(1)]
    assert a == b
    kinds = {_Mix(LoadConfig(url="http://x", seed=s)).next()[0] for s in range(60)}
    assert kinds == {"hot", "chat", "stream", "embed"}


@pytest.mark.integration
def test_cli_load_exports_client_spans_that_parent_the_server_spans(port: int, tmp_path: Path) -> None:
    from infersight.demo.cli import demo_app
    from infersight.instrument import instrument_app, uninstrument_app
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry
    from typer.testing import CliRunner

    from tests.instrument.conftest import OtlpReceiver
    from tests.instrument.conftest import serve as serve_any

    server_spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(server_spans))
    app = stalling_app(stall_at=0.4, stall_s=0.5)
    instrument_app(app, tracer_provider=tp, meter_provider=MeterProvider(), registry=CollectorRegistry(),
                   instrument_clients=False, loop_lag=False)
    receiver = OtlpReceiver()
    csv_path = tmp_path / "requests.csv"
    try:
        with serve(app, port) as url, serve_any(receiver) as otlp:
            result = CliRunner().invoke(demo_app, ["load", "--url", url, "--rate", "20", "--duration", "1.5",
                                                   "--seed", "5", "--otlp-endpoint", otlp,
                                                   "--requests-csv", str(csv_path)])
    finally:
        uninstrument_app(app)
    assert result.exit_code == 0, result.output
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 10 and all(r["trace_id"] for r in rows)
    spans = [(res, s) for res, _, s in receiver.spans()]
    assert len(spans) == len(rows)
    res_attrs = {kv.key: kv.value.string_value for kv in spans[0][0].attributes}
    assert res_attrs["service.name"] == "infersight-load" and res_attrs["infersight.role"] == "load"
    scheduled = {r["trace_id"]: int(r["scheduled_unix_ns"]) for r in rows}
    client_ids = {}
    for _, s in spans:
        attrs = {kv.key: kv.value for kv in s.attributes}
        assert s.kind == s.SPAN_KIND_CLIENT and s.name == f"POST {attrs['http.route'].string_value}"
        assert s.start_time_unix_nano == scheduled[s.trace_id.hex()]  # the scheduled send, not the send
        assert attrs["infersight.load.scheduled"].bool_value is True
        assert attrs["infersight.load.send_lag_ms"].double_value >= 0
        assert attrs["server.port"].int_value == port
        client_ids[s.span_id] = s
    served = [sv for sv in server_spans.get_finished_spans() if sv.kind.name == "SERVER"]
    assert served and all(sv.parent is not None and sv.parent.span_id.to_bytes(8, "big") in client_ids
                          for sv in served)
    # open loop: requests scheduled during the 0.5 s stall count it from their scheduled time
    stalled = [r for r in rows if r["latency"] and float(r["latency"]) > 0.3]
    assert len(stalled) >= 3
