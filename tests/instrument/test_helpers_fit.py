"""Helpers that fit code users already have: record-only caches, the app's own pool span, a job
whose own work nests in its trace, an engine's own queue/prefill/decode split, ERROR logs."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from fastapi import FastAPI
from infersight.instrument import (
    ConfigurationError,
    ExportOptions,
    configure,
    instrument_app,
    record_generation,
    traced_cache,
    traced_job,
    traced_pool_acquire,
    uninstrument_app,
)
from infersight.instrument.helpers._lru import LRU
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.instrument.conftest import OtlpReceiver, Providers, TestClient


def _kw(p: Providers) -> dict[str, Any]:
    return {"tracer_provider": p.tracer_provider, "meter_provider": p.meter_provider, "registry": p.registry}


def _lookups(p: Providers, cache: str) -> list[Any]:
    return [s for s in p.spans.get_finished_spans() if s.name == f"cache.lookup {cache}"]


# -- traced_cache -----------------------------------------------------------------------------

def test_observe_wraps_an_existing_get_without_changing_the_cache(providers: Providers) -> None:
    store = {"a": 1}  # the app's own cache: observe() only records
    get = traced_cache("sessions", **_kw(providers)).observe(store.get)
    assert get("a") == 1 and get("b") is None and get("b", 5) == 5
    assert store == {"a": 1}
    hits = [s.attributes["cache.hit"] for s in _lookups(providers, "sessions")]
    assert hits == [True, False, True]  # get("b", 5) returned a value: a hit as the getter saw it
    assert providers.registry.get_sample_value("infersight_cache_requests_total",
                                               {"cache": "sessions", "result": "miss"}) == 1


def test_observe_async_getter_and_a_hit_predicate(providers: Providers) -> None:
    cache = traced_cache("redis", **_kw(providers))

    @cache.observe
    async def fetch(key: str) -> bytes:
        await asyncio.sleep(0)
        return b"" if key == "gone" else b"v"

    assert asyncio.run(fetch("x")) == b"v"
    assert asyncio.run(fetch("gone")) == b""  # an empty value is a hit unless told otherwise
    strict = cache.observe(fetch, hit=lambda v: bool(v))
    assert asyncio.run(strict("gone")) == b""
    assert [s.attributes["cache.hit"] for s in _lookups(providers, "redis")][-1] is False


def test_record_after_the_fact_with_miss_time(providers: Providers) -> None:
    cache = traced_cache("embeddings", **_kw(providers))
    cache.record("k", hit=False, miss_s=0.25)
    cache.record("k", hit=True)
    miss, hit = _lookups(providers, "embeddings")
    assert miss.attributes["cache.hit"] is False and miss.attributes["infersight.cache.miss_ms"] >= 249
    assert hit.attributes["cache.hit"] is True and "infersight.cache.miss_ms" not in hit.attributes
    assert miss.attributes["cache.key_hash"] == hit.attributes["cache.key_hash"]


def test_none_is_not_cached_unless_asked(providers: Providers) -> None:
    calls: list[str] = []

    def load(key: str) -> Any:
        calls.append(key)
        return None

    plain = traced_cache("plain", **_kw(providers))
    plain.get_or_load("k", lambda: load("k"))
    plain.get_or_load("k", lambda: load("k"))
    assert calls == ["k", "k"], "a None result is loaded again, not served from the cache"
    calls.clear()
    keep = traced_cache("keep", cache_none=True, **_kw(providers))
    keep.get_or_load("k", lambda: load("k"))
    keep.get_or_load("k", lambda: load("k"))
    assert calls == ["k"]


def test_ttl_expires_entries() -> None:
    now = [100.0]
    lru = LRU(4, ttl_s=10, clock=lambda: now[0])
    lru["a"] = 1
    now[0] = 109.0
    assert lru.get("a") == 1
    now[0] = 110.0
    assert lru.get("a") is None and "a" not in lru
    with pytest.raises(ConfigurationError, match="ttl_s"):
        LRU(4, ttl_s=0)
    with pytest.raises(ConfigurationError, match="ttl_s applies"):
        traced_cache("x", cache={}, ttl_s=5)


def test_ttl_through_traced_cache(providers: Providers) -> None:
    cache = traced_cache("short", ttl_s=0.05, **_kw(providers))
    cache.get_or_load("k", lambda: "v1")
    assert cache.get_or_load("k", lambda: "v2") == "v1"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cache.get_or_load("k", lambda: "v3") == "v1":
        time.sleep(0.02)
    assert cache.get_or_load("k", lambda: "v4") == "v3"


# -- traced_pool_acquire ----------------------------------------------------------------------

def test_pool_size_in_use_and_waiters_go_on_the_span(providers: Providers) -> None:
    in_use = [3]
    outer = traced_pool_acquire("db", size=5, in_use=lambda: in_use[0], **_kw(providers))
    inner = traced_pool_acquire("db", size=lambda: 5, **_kw(providers))
    with outer as acq:
        assert acq.span is not None and acq.span.is_recording()
        with inner:  # a second acquire of the same pool while the first waits
            pass
    assert outer.span is None
    spans = [s for s in providers.spans.get_finished_spans() if s.name == "pool.acquire"]
    by_waiting = {s.attributes["infersight.pool.waiting"]: s for s in spans}
    assert set(by_waiting) == {0, 1}
    first = by_waiting[0]
    assert first.attributes["db.client.connection.pool.size"] == 5
    assert first.attributes["infersight.pool.in_use"] == 3
    assert first.attributes["db.client.connection.wait_time"] >= 0
    with pytest.raises(ConfigurationError, match="size"):
        traced_pool_acquire("db", size=0)


def test_what_the_pool_does_inside_the_wait_nests_under_it(providers: Providers) -> None:
    """SQLAlchemy's instrumentation traces a checkout as a DB 'connect' span: made while the
    acquire waits, it is a child of pool.acquire (not a sibling over the same time), and the
    acquire's span is no longer current afterwards."""
    tracer = providers.tracer_provider.get_tracer("sqlalchemy-like")
    with tracer.start_as_current_span("GET /pay", kind=SpanKind.SERVER) as server:
        with traced_pool_acquire("db", **_kw(providers)):
            with tracer.start_as_current_span("connect", kind=SpanKind.CLIENT):
                pass
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
            pass
    by_name = {s.name: s for s in providers.spans.get_finished_spans()}
    assert by_name["connect"].parent.span_id == by_name["pool.acquire"].context.span_id
    assert by_name["pool.acquire"].parent.span_id == server.get_span_context().span_id
    assert by_name["SELECT"].parent.span_id == server.get_span_context().span_id


async def _acquire_in_task(acquire: Any, tracer: Any) -> None:
    async with acquire:
        await asyncio.sleep(0)
        with tracer.start_as_current_span("connect", kind=SpanKind.CLIENT):
            pass


def test_async_acquires_in_concurrent_tasks_each_nest_their_own_work(providers: Providers) -> None:
    tracer = providers.tracer_provider.get_tracer("app")
    acquire = traced_pool_acquire("db", **_kw(providers))

    async def main() -> None:
        await asyncio.gather(*(_acquire_in_task(acquire, tracer) for _ in range(3)))

    asyncio.run(main())
    spans = providers.spans.get_finished_spans()
    acquires = {s.context.span_id for s in spans if s.name == "pool.acquire"}
    connects = [s for s in spans if s.name == "connect"]
    assert len(acquires) == 3 and len(connects) == 3
    assert {c.parent.span_id for c in connects} == acquires, "each task's connect under its own wait"


def test_span_current_records_onto_the_apps_own_pool_span(providers: Providers) -> None:
    tracer = providers.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("checkout connection"):
        with traced_pool_acquire("db", span="current", size=2, **_kw(providers)):
            pass
    names = [s.name for s in providers.spans.get_finished_spans()]
    assert names == ["checkout connection"], "one span per wait: the app's own"
    (own,) = providers.spans.get_finished_spans()
    assert own.attributes["db.client.connection.pool.name"] == "db"
    assert own.attributes["db.client.connection.pool.size"] == 2


def test_span_current_never_turns_the_request_span_into_a_wait(providers: Providers) -> None:
    tracer = providers.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("GET /pay", kind=SpanKind.SERVER):
        with traced_pool_acquire("db", span="current", **_kw(providers)):
            pass
    server = [s for s in providers.spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert "db.client.connection.pool.name" not in server[0].attributes
    assert [s.name for s in providers.spans.get_finished_spans() if s.kind != SpanKind.SERVER] == ["pool.acquire"]


def test_pool_timeout_is_declared(providers: Providers) -> None:
    with pytest.raises(TimeoutError), traced_pool_acquire("db", **_kw(providers)):
        raise TimeoutError("no connection")
    (span,) = providers.spans.get_finished_spans()
    assert span.attributes["infersight.pool.timeout"] is True


# -- traced_job -------------------------------------------------------------------------------

def test_a_jobs_own_work_nests_in_its_trace(providers: Providers) -> None:
    tracer = providers.tracer_provider.get_tracer("app")

    @traced_job("nightly_sync", **_kw(providers))
    def sync() -> list[int]:
        with traced_pool_acquire("db", **_kw(providers)):
            pass
        with tracer.start_as_current_span("SELECT payments") as q:
            q.set_attribute("db.response.returned_rows", 40)
        return []

    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER):
        sync()
    spans = {s.name: s for s in providers.spans.get_finished_spans()}
    job = spans["nightly_sync"]
    assert job.parent is None, "a job is still a root, not the request's child"
    for child in ("pool.acquire", "SELECT payments"):
        assert spans[child].context.trace_id == job.context.trace_id
        assert spans[child].parent is not None and spans[child].parent.span_id == job.context.span_id


def test_async_job_context_does_not_leak(providers: Providers) -> None:
    from opentelemetry import trace

    async def main() -> None:
        async with traced_job("tick", **_kw(providers)):
            assert trace.get_current_span().is_recording()
        assert not trace.get_current_span().is_recording()

    asyncio.run(main())


# -- record_generation ------------------------------------------------------------------------

def test_engine_split_and_ttft_go_on_the_request_span(providers: Providers) -> None:
    tracer = providers.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("POST /v1/completions", kind=SpanKind.SERVER):
        record_generation(ttft_s=0.12, input_tokens=30, output_tokens=9, model="m", queue_s=0.05,
                          prefill_s=0.06, decode_s=0.2, meter_provider=providers.meter_provider,
                          registry=providers.registry)
        record_generation(queue_s=-1.0, meter_provider=providers.meter_provider, registry=providers.registry)
    (span,) = providers.spans.get_finished_spans()
    a = span.attributes
    assert a["gen_ai.latency.time_to_first_token"] == pytest.approx(0.12)
    assert a["gen_ai.latency.time_in_queue"] == pytest.approx(0.05)  # the bad second call changed nothing
    assert a["gen_ai.latency.time_in_model_prefill"] == pytest.approx(0.06)
    assert a["gen_ai.latency.time_in_model_decode"] == pytest.approx(0.2)
    assert a["gen_ai.latency.time_in_model_inference"] == pytest.approx(0.26)
    assert a["gen_ai.usage.input_tokens"] == 30


# -- ERROR logs over OTLP ---------------------------------------------------------------------

def _log_records(receiver: OtlpReceiver) -> list[Any]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    out = []
    for body in receiver.bodies.get("/v1/logs", []):
        req = ExportLogsServiceRequest.FromString(body)
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                out.extend((rl.resource, r) for r in sl.log_records)
    return out


@pytest.mark.integration
def test_error_logs_reach_the_collector_with_their_trace(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    receiver, url = otlp_receiver
    app = FastAPI()
    log = logging.getLogger("payments.api")

    @app.get("/pay")
    def pay() -> dict[str, str]:
        log.warning("slow card network")         # below the level: not exported
        log.error("card declined by issuer")
        return {"ok": "no"}

    tel = configure("pay-svc", endpoint=url, log_level="ERROR", span_exporter=InMemorySpanExporter(),
                    metric_reader=InMemoryMetricReader(), set_global=False)
    try:
        instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                       gc=False, loop_lag=False, instrument_clients=False)
        with TestClient(app) as client:
            assert client.get("/pay").status_code == 200
        tel.flush()
    finally:
        uninstrument_app(app)
        tel.shutdown()
    records = _log_records(receiver)
    bodies = [r.body.string_value for _, r in records]
    assert bodies == ["card declined by issuer"]
    (resource, record), = records
    assert record.severity_text == "ERROR" and len(record.trace_id) == 16 and any(record.trace_id)
    assert {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"] == "pay-svc"
    assert logging.getLogger().handlers == [h for h in logging.getLogger().handlers
                                            if type(h).__name__ != "LoggingHandler"], "shutdown removed it"


def test_a_bad_log_level_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="log_level"):
        ExportOptions(log_level="LOUD")
    with pytest.raises(ConfigurationError, match="log_level"), pytest.warns(DeprecationWarning):
        instrument_app(FastAPI(), log_level="LOUD", gc=False, loop_lag=False)


@pytest.mark.integration
def test_helper_spans_take_the_lean_path_and_nest_in_the_request(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    from infersight.instrument.export._leanspan import LeanApiTracer
    from infersight.instrument.helpers._sinks import tracer_for

    receiver, url = otlp_receiver
    tel = configure("lean-helpers", endpoint=url, metric_reader=InMemoryMetricReader(), set_global=False)
    app = FastAPI()
    kw = {"tracer_provider": tel.tracer_provider, "meter_provider": tel.meter_provider}
    features = traced_cache("features", **kw)
    acquire = traced_pool_acquire("db", size=2, **kw)

    @app.get("/f/{key}")
    async def feature(key: str) -> dict[str, Any]:
        async with acquire:
            pass
        return {"v": features.get_or_load(key, lambda: key.upper())}

    try:
        instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                       gc=False, loop_lag=False, instrument_clients=False)
        assert isinstance(tracer_for(tel.tracer_provider), LeanApiTracer)
        with TestClient(app) as client:
            assert client.get("/f/a").json() == {"v": "A"}
        tel.flush()
    finally:
        uninstrument_app(app)
        tel.shutdown()
    spans = {s.name: s for _, _, s in receiver.spans()}
    server = spans["GET /f/{key}"]
    for name in ("cache.lookup features", "pool.acquire"):
        assert spans[name].trace_id == server.trace_id and spans[name].parent_span_id == server.span_id, name
    attrs = {a.key: a.value for a in spans["pool.acquire"].attributes}
    assert attrs["db.client.connection.pool.size"].int_value == 2
