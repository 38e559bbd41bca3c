"""GC pauses and event-loop lag: the monitors themselves and their annotations on request spans."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc

from fastapi import FastAPI
from infersight.instrument import GcOptions, LoopLagOptions, instrument_app
from infersight.instrument.metrics._families import otel_instruments, prom_metrics
from infersight.instrument.runtime._gc import GcMonitor
from infersight.instrument.runtime._loop import LoopLagMonitor
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import Providers, TestClient


def test_gc_callback_is_bounded_and_allocation_free() -> None:
    mon = GcMonitor(ring_size=64)
    info = {"generation": 2, "collected": 10, "uncollectable": 0}
    cb = mon._callback
    for _ in range(100):  # warm up (first-call allocations, int caches)
        cb("start", info)
        cb("stop", info)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            cb("start", info)
            cb("stop", info)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2_000, f"gc callback retained {grown} bytes over 20k pauses"
    assert mon.count == 20_100
    assert len(mon.pauses_since(0)) == 64  # the ring keeps the newest only


def test_gc_monitor_records_real_collections(providers: Providers) -> None:
    registry = CollectorRegistry()
    prom = prom_metrics(registry)
    mon = GcMonitor(prom=prom, otel=otel_instruments(providers.meter_provider),
                    tracer=providers.tracer_provider.get_tracer("t"), event_threshold_ms=0.0)
    mon.install(background=False)
    try:
        c0 = mon.count
        garbage = [[i] for i in range(50_000)]
        for g in garbage[:1000]:
            g.append(g)  # cycles, so gen 2 has something to collect
        del garbage, g
        gc.collect(2)
        gc.collect(0)
    finally:
        mon.uninstall()  # drains
    pauses = mon.pauses_since(c0)
    assert {gen for _, _, gen in pauses} >= {0, 2}
    assert all(dur > 0 for _, dur, _ in pauses)
    assert registry.get_sample_value("cpython_gc_collections_total", {"generation": "2"}) >= 1
    assert registry.get_sample_value("cpython_gc_collected_objects_total", {"generation": "2"}) >= 1000
    assert registry.get_sample_value("infersight_gc_pause_duration_seconds_count", {"generation": "0"}) >= 1
    assert registry.get_sample_value("infersight_gc_last_long_pause_start_seconds", {"generation": "2"}) > 1e9
    metrics = providers.otel_metrics()
    (_, collections), = metrics["cpython.gc.collections"]
    gens = {dp.attributes["cpython.gc.generation"] for dp in collections.data.data_points}
    assert {0, 2} <= gens
    assert "infersight.gc.pause.duration" in metrics
    # long pauses (threshold 0 here: all) also go out as root spans placed on the timeline
    pause_spans = [s for s in providers.spans.get_finished_spans() if s.name == "gc.pause"]
    assert pause_spans and all(s.parent is None and s.kind == SpanKind.INTERNAL for s in pause_spans)
    assert all(s.end_time > s.start_time for s in pause_spans)


def test_request_spans_carry_overlapping_gc_pauses(app: FastAPI, providers: Providers) -> None:
    @app.get("/churn")
    async def churn() -> dict[str, int]:
        junk = [{"i": i} for i in range(20_000)]
        gc.collect(2)
        return {"n": len(junk)}

    instrument_app(app, gc=GcOptions(event_threshold_ms=0.0, pause_spans=False), **providers.kwargs())
    with TestClient(app) as client:
        client.get("/churn")
    (span,) = providers.server_spans()
    assert span.attributes["infersight.gc.pause_ms"] > 0
    events = [e for e in span.events if e.name == "gc.pause"]
    assert any(e.attributes["cpython.gc.generation"] == 2 for e in events)
    assert all(e.attributes["duration_ms"] > 0 for e in events)
    assert all(span.start_time <= e.timestamp <= span.end_time for e in events)


def test_gc_events_respect_the_threshold(app: FastAPI, providers: Providers) -> None:
    @app.get("/churn")
    async def churn() -> None:
        gc.collect(0)

    instrument_app(app, gc=GcOptions(event_threshold_ms=10_000.0), **providers.kwargs())
    with TestClient(app) as client:
        client.get("/churn")
    (span,) = providers.server_spans()
    assert span.attributes["infersight.gc.pause_ms"] > 0
    assert [e for e in span.events if e.name == "gc.pause"] == []


def _loop_app() -> FastAPI:
    app = FastAPI()

    @app.get("/block")
    async def block() -> None:
        time.sleep(0.3)  # blocks the event loop (the bug the event exists to show)

    @app.get("/wait")
    async def wait() -> None:
        await asyncio.sleep(1.5)

    return app


def test_a_request_that_blocks_the_loop_gets_an_event_with_its_stack(providers: Providers) -> None:
    app = _loop_app()
    state = instrument_app(app, loop_lag=LoopLagOptions(interval_s=0.02, blocked_threshold_s=0.1, stack=True),
                           **providers.kwargs())
    with TestClient(app) as client:
        time.sleep(0.1)
        client.get("/block")
        time.sleep(0.2)  # let the lag task record the episode
    assert state.loop is not None and not state.loop.running
    (span,) = providers.server_spans()
    events = [e for e in span.events if e.name == "event_loop.blocked"]
    assert events, "the blocked loop must show on the request that blocked it"
    assert events[0].attributes["lag_ms"] >= 150
    assert "time.sleep" in events[0].attributes.get("stack", "") or "block" in events[0].attributes["stack"]
    samples = providers.registry.get_sample_value("infersight_event_loop_lag_seconds_count")
    assert samples and samples >= 3
    assert providers.registry.get_sample_value("infersight_event_loop_blocked_total") >= 1
    assert "infersight.event_loop.lag" in providers.otel_metrics()


def test_requests_that_overlapped_a_block_get_the_event(providers: Providers) -> None:
    app = _loop_app()
    instrument_app(app, loop_lag=LoopLagOptions(interval_s=0.02, blocked_threshold_s=0.1), **providers.kwargs())
    with TestClient(app) as client:
        waiter = threading.Thread(target=client.get, args=("/wait",))
        waiter.start()
        time.sleep(0.1)
        client.get("/block")
        waiter.join()
    spans = {s.name: s for s in providers.server_spans()}
    events = [e for e in spans["GET /wait"].events if e.name == "event_loop.blocked"]
    assert events and events[0].attributes["lag_ms"] >= 150
    assert "in_progress" not in events[0].attributes


def test_loop_monitor_records_lag_samples() -> None:
    registry = CollectorRegistry()
    mon = LoopLagMonitor(prom=prom_metrics(registry), interval_s=0.01, blocked_threshold_s=0.05)

    async def main() -> None:
        mon.start()
        await asyncio.sleep(0.05)
        time.sleep(0.12)
        await asyncio.sleep(0.05)
        mon.stop()
        await asyncio.sleep(0)

    asyncio.run(main())
    assert registry.get_sample_value("infersight_event_loop_lag_seconds_count") >= 3
    assert mon.blocked_count == 1
    assert registry.get_sample_value("infersight_event_loop_lag_seconds_bucket", {"le": "0.1"}) < \
        registry.get_sample_value("infersight_event_loop_lag_seconds_count")
