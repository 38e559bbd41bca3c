"""The lean export path: byte-identical OTLP encoding, and LeanSpan SERVER spans over real OTLP/HTTP."""

from __future__ import annotations

import gc
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from infersight.instrument import GcOptions, configure, instrument_app, traced_cache, uninstrument_app
from infersight.instrument.export._otlp import encode_request
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import OtlpReceiver, TestClient, make_app, serve

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _sdk_spans() -> list:
    spans = []
    for resource in (Resource.create({"service.name": "a", "n": 1, "s": "é"}), Resource.create({"service.name": "b"})):
        exporter = InMemorySpanExporter()
        tp = TracerProvider(resource=resource)
        tp.add_span_processor(SimpleSpanProcessor(exporter))
        for scope in ("s1", "s2"):
            tracer = tp.get_tracer(scope, "1.2", schema_url="https://opentelemetry.io/schemas/1.21.0")
            remote = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True,
                                 trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "x1")]))
            with tracer.start_as_current_span(
                    "server", context=trace.set_span_in_context(NonRecordingSpan(remote)),
                    kind=SpanKind.SERVER,
                    attributes={"s": "é", "empty": "", "b": False, "i": -5, "big": 2**62, "f": 0.25,
                                "seq": ["a", "b"], "iseq": (1, 2, 3), "fseq": [0.5], "bseq": [True]},
                    links=[Link(remote, {"why": "batch"})]) as span:
                span.add_event("gc.pause", {"generation": 2, "duration_ms": 12.5, "s": "é", "i": -5})
                span.add_event("bare")
                with tracer.start_as_current_span("child", kind=SpanKind.INTERNAL) as child:
                    child.set_status(Status(StatusCode.ERROR, "boom"))
                span.set_status(StatusCode.OK)
        spans.extend(exporter.get_finished_spans())
        tp.shutdown()
    return spans


def test_lean_encoder_writes_the_sdk_encoders_bytes() -> None:
    spans = _sdk_spans()
    assert len(spans) == 8
    assert encode_request(spans) == encode_spans(spans).SerializePartialToString()
    assert encode_request(spans[3:5]) == encode_spans(spans[3:5]).SerializePartialToString()
    assert encode_request([]) == b""


def test_all_lean_batches_take_one_join_with_the_same_bytes() -> None:
    from infersight.instrument.export._leanspan import LeanTracer
    from infersight.instrument.export._otlp import _encode_grouped

    encoded: list[bytes] = []

    class Sink:
        def emit_encoded(self, data: bytes) -> None:
            encoded.append(data)

    resource = Resource.create({"service.name": "lean"}, schema_url="https://opentelemetry.io/schemas/1.21.0")
    tracer = LeanTracer(TracerProvider(resource=resource), Sink(), "infersight.instrument", "1.0")
    for i in range(5):
        tracer.start_span(f"GET /{i}", None, SpanKind.SERVER, {"i": i}).end()
    lean = (tracer.resource, tracer.instrumentation_scope)
    data = encode_request(encoded, lean)
    assert data == _encode_grouped(encoded, lean)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    (rs,) = ExportTraceServiceRequest.FromString(data).resource_spans
    assert rs.schema_url.endswith("1.21.0") and [s.name for s in rs.scope_spans[0].spans] == \
        [f"GET /{i}" for i in range(5)]


def _owned_app(url: str, instrument_clients: bool = False, **kwargs: object) -> tuple[FastAPI, object]:
    tel = configure("lean-test", endpoint=url, schedule_delay_ms=50, metric_reader=InMemoryMetricReader(),
                    set_global=False, **kwargs)  # type: ignore[arg-type]
    app = make_app()

    features = traced_cache("features", tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                            registry=CollectorRegistry())

    @app.get("/cached/{key}")
    async def cached(key: str) -> dict[str, str]:
        return {"v": features.get_or_load(key, lambda: key.upper())}

    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=instrument_clients,
                           gc=GcOptions(event_threshold_ms=0.0, pause_spans=False))
    return app, (tel, state)


def test_owned_provider_uses_lean_spans_and_they_arrive_over_otlp(otlp_receiver: tuple[OtlpReceiver, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    receiver, url = otlp_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret")
    app, (tel, state) = _owned_app(url)  # type: ignore[misc]
    assert state._lean is not None, "a provider built by configure() takes the lean path"
    try:
        with serve(app) as base, httpx.Client(base_url=base) as client:
            assert client.get("/cached/k1", headers={"traceparent": TRACEPARENT}).json() == {"v": "K1"}
            client.get("/items/9?q=1")
            assert client.get("/boom").status_code == 500  # uvicorn closes the connection after this
    finally:
        uninstrument_app(app)
        tel.shutdown()
    spans = receiver.spans()
    server = {s.name: (res, scope, s) for res, scope, s in spans if s.kind == s.SPAN_KIND_SERVER}
    assert set(server) == {"GET /cached/{key}", "GET /boom", "GET /items/{item_id}"}
    sent = receiver.headers["/v1/traces"][0]
    assert sent["x-api-key"] == "s3cret" and sent["content-type"] == "application/x-protobuf"
    res, scope, span = server["GET /cached/{key}"]
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert scope.name == "infersight.instrument"
    assert {kv.key: kv.value.string_value for kv in res.attributes}["service.name"] == "lean-test"
    assert span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id.hex() == "b7ad6b7169203331"
    assert span.flags == 0x300  # parent is remote
    assert attrs["http.route"].string_value == "/cached/{key}"
    assert attrs["http.response.status_code"].int_value == 200
    assert attrs["url.path"].string_value == "/cached/k1"
    assert attrs["infersight.gc.pause_ms"].HasField("double_value")
    assert span.end_time_unix_nano > span.start_time_unix_nano
    (child,) = [s for _, _, s in spans if s.name == "cache.lookup features"]
    assert child.parent_span_id == span.span_id and child.trace_id == span.trace_id, \
        "SDK child spans nest under the lean SERVER span"
    _, _, boom = server["GET /boom"]
    assert boom.status.code == boom.status.STATUS_CODE_ERROR
    assert [e.name for e in boom.events if e.name == "exception"] == ["exception"]
    _, _, items = server["GET /items/{item_id}"]
    assert {kv.key: kv.value for kv in items.attributes}["url.query"].string_value == "q=REDACTED"


def test_sampler_of_the_owned_provider_is_honoured(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    receiver, url = otlp_receiver
    app, (tel, state) = _owned_app(url, sampler=ALWAYS_OFF)  # type: ignore[misc]
    try:
        with serve(app) as base, httpx.Client(base_url=base) as client:
            assert client.get("/items/1").status_code == 200
    finally:
        uninstrument_app(app)
        tel.shutdown()
    assert [s for _, _, s in receiver.spans() if s.kind == s.SPAN_KIND_SERVER] == []


def test_providers_with_other_listeners_keep_sdk_spans() -> None:
    tel = configure("x", span_exporter=InMemorySpanExporter(), metric_reader=InMemoryMetricReader(),
                    set_global=False)
    extra = InMemorySpanExporter()
    tel.tracer_provider.add_span_processor(SimpleSpanProcessor(extra))
    app = make_app()
    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False)
    try:
        assert state._lean is None
        user_tp = TracerProvider()
        app2 = make_app()
        state2 = instrument_app(app2, tracer_provider=user_tp, meter_provider=tel.meter_provider,
                                registry=CollectorRegistry(), instrument_clients=False)
        assert state2._lean is None, "a user's own provider always gets SDK spans"
        uninstrument_app(app2)
    finally:
        uninstrument_app(app)
        tel.shutdown()


class _CapturingExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        pass


def _points(data: MetricsData | None, name: str) -> dict[tuple, HistogramDataPoint]:
    out = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    assert sm.scope.name == "infersight.instrument"
                    for dp in m.data.data_points:
                        out[tuple(sorted(dp.attributes.items()))] = dp
    return out


def test_owned_meter_provider_gets_the_same_duration_histogram_as_the_sdk() -> None:
    capture = _CapturingExporter()
    tel = configure("m", span_exporter=InMemorySpanExporter(), metric_exporter=capture, export_interval_s=3600,
                    set_global=False)
    owned_app = make_app()
    state = instrument_app(owned_app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False)
    sdk_reader = InMemoryMetricReader()
    sdk_app = make_app()
    instrument_app(sdk_app, tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[sdk_reader]),
                   registry=CollectorRegistry(), instrument_clients=False)
    assert state._local_http is not None
    try:
        for app in (owned_app, sdk_app):
            with TestClient(app, raise_server_exceptions=False) as client:
                for i in range(5):
                    client.get(f"/items/{i}")
                client.get("/boom")
                client.get("/teapot")
        assert state.gc is not None
        gc.collect()
        state.gc.drain()
        tel.meter_provider.force_flush()
        exported = capture.batches[-1]
    finally:
        uninstrument_app(owned_app)
        uninstrument_app(sdk_app)
        tel.shutdown()
    local = _points(exported, "http.server.request.duration")
    sdk = _points(sdk_reader.get_metrics_data(), "http.server.request.duration")
    assert set(local) == set(sdk) and len(local) == 3
    for key, dp in local.items():
        assert dp.count == sdk[key].count
        assert list(dp.explicit_bounds) == list(sdk[key].explicit_bounds)
        assert sum(dp.bucket_counts) == dp.count and len(dp.bucket_counts) == len(dp.explicit_bounds) + 1
        assert 0 < dp.min <= dp.max and dp.sum >= dp.max
    boom = next(dp for k, dp in local.items() if dict(k).get("http.route") == "/boom")
    assert boom.attributes["error.type"] == "RuntimeError" and boom.attributes["http.response.status_code"] == 500
    assert "cpython.gc.collections" in {m.name for rm in exported.resource_metrics
                                        for sm in rm.scope_metrics for m in sm.metrics}


def test_every_instrumentation_on_the_owned_provider_gets_lean_spans_in_its_own_scope(
        otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    """configure()'s provider hands OTel contrib instrumentations (here the real sqlite3 one)
    lean tracers: their spans nest under the request, keep their own instrumentation scope and
    share one resource with infersight's in the same export."""
    import importlib.metadata
    import sqlite3

    from infersight.instrument.export._leanspan import LeanApiTracer
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    receiver, url = otlp_receiver
    app, (tel, _state) = _owned_app(url)  # type: ignore[misc]
    assert isinstance(tel.tracer_provider.get_tracer("opentelemetry.instrumentation.sqlite3", "0.1"), LeanApiTracer)
    SQLite3Instrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        con = sqlite3.connect(":memory:", check_same_thread=False)

        @app.get("/q/{n}")
        async def query(n: int) -> dict[str, int]:
            cur = con.cursor()
            return {"v": cur.execute("SELECT ? + 1", (n,)).fetchone()[0]}

        with serve(app) as base, httpx.Client(base_url=base) as client:
            assert client.get("/q/41").json() == {"v": 42}
            assert client.get("/cached/a").json() == {"v": "A"}
    finally:
        SQLite3Instrumentor().uninstrument()
        uninstrument_app(app)
        tel.shutdown()
    spans = receiver.spans()
    by_name = {s.name: (res, scope, s) for res, scope, s in spans}
    _, server_scope, server = by_name["GET /q/{n}"]
    res, scope, select = by_name["SELECT"]
    assert server_scope.name == "infersight.instrument"
    assert scope.name == "opentelemetry.instrumentation.sqlite3"
    assert scope.version == importlib.metadata.version("opentelemetry-instrumentation-sqlite3")
    assert select.trace_id == server.trace_id and select.parent_span_id == server.span_id
    assert select.kind == select.SPAN_KIND_CLIENT
    attrs = {kv.key: kv.value for kv in select.attributes}
    assert attrs["db.system"].string_value == "sqlite"
    assert {kv.key: kv.value.string_value for kv in res.attributes}["service.name"] == "lean-test"
    _, _, cache = by_name["cache.lookup features"]
    assert cache.parent_span_id == by_name["GET /cached/{key}"][2].span_id


def test_lean_tracers_fall_back_to_sdk_spans_for_links_and_for_a_processor_added_later(
        otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    from infersight.instrument.export._leanspan import LeanSpan
    from opentelemetry.sdk.trace import Span as SdkSpan

    receiver, url = otlp_receiver
    tel = configure("fallback", endpoint=url, metric_reader=InMemoryMetricReader(), set_global=False)
    tracer = tel.tracer_provider.get_tracer("some.library")
    try:
        assert tel.tracer_provider.get_tracer("some.library") is tracer, "one tracer per scope, as the SDK keeps"
        assert tel.tracer_provider.get_tracer("some.library", "2.0") is not tracer
        lean = tracer.start_span("plain")
        assert isinstance(lean, LeanSpan)
        lean.end()
        other = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True,
                            trace_flags=TraceFlags(1))
        linked = tracer.start_span("linked", links=[Link(other, {"why": "batch"})])
        assert isinstance(linked, SdkSpan), "a LeanSpan keeps no links: the SDK span does"
        linked.end()
        extra = InMemorySpanExporter()
        tel.tracer_provider.add_span_processor(SimpleSpanProcessor(extra))
        with tracer.start_as_current_span("after") as after:
            assert isinstance(after, SdkSpan)
        with tel.tracer_provider.get_tracer("another.library").start_as_current_span("after2") as after2:
            assert isinstance(after2, SdkSpan), "a tracer asked for after the processor was added"
        assert [s.name for s in extra.get_finished_spans()] == ["after", "after2"], \
            "a processor added later sees the spans of tracers handed out before"
        tel.flush()
    finally:
        tel.shutdown()
    got = {s.name: s for _, _, s in receiver.spans()}
    assert set(got) == {"plain", "linked", "after", "after2"}
    (link,) = got["linked"].links
    assert link.span_id.hex() == "b7ad6b7169203331"
    assert {kv.key: kv.value.string_value for kv in link.attributes} == {"why": "batch"}


def test_helper_metrics_on_the_owned_meter_provider_equal_the_sdks() -> None:
    """Per-event instruments (cache, pool, GC) aggregate locally on configure()'s MeterProvider:
    the exported points equal what the SDK aggregates for the same calls."""
    from infersight.instrument import traced_pool_acquire
    from infersight.instrument.metrics._families import SPECS

    capture = _CapturingExporter()
    tel = configure("m", span_exporter=InMemorySpanExporter(), metric_exporter=capture, export_interval_s=3600,
                    set_global=False)
    sdk_reader = InMemoryMetricReader()
    sdk_mp = MeterProvider(metric_readers=[sdk_reader])
    from infersight.instrument.export._otelhist import LocalCounter
    from infersight.instrument.metrics._families import otel_instruments

    assert isinstance(otel_instruments(tel.meter_provider).cache_requests, LocalCounter)
    assert not isinstance(otel_instruments(sdk_mp).cache_requests, LocalCounter)
    try:
        for mp in (tel.meter_provider, sdk_mp):
            features = traced_cache("features", tracer_provider=TracerProvider(), meter_provider=mp,
                                    registry=CollectorRegistry())
            for key in ("a", "b", "a", "a", "c"):
                features.get_or_load(key, lambda k=key: k.upper())
            acquire = traced_pool_acquire("db", tracer_provider=TracerProvider(), meter_provider=mp,
                                          registry=CollectorRegistry())
            for _ in range(3):
                with acquire:
                    pass
            with pytest.raises(TimeoutError), acquire:
                raise TimeoutError
        tel.meter_provider.force_flush()
        local_data = capture.batches[-1]
    finally:
        tel.shutdown()
    sdk_data = sdk_reader.get_metrics_data()
    requests = SPECS["infersight_cache_requests"].otel_name
    local, sdk = _points(local_data, requests), _points(sdk_data, requests)
    assert {k: dp.value for k, dp in local.items()} == {k: dp.value for k, dp in sdk.items()}
    assert {dict(k)["cache.result"]: dp.value for k, dp in local.items()} == {"hit": 2, "miss": 3}
    for name in (SPECS["db_client_connection_wait_time_seconds"].otel_name,
                 SPECS["infersight_cache_miss_duration_seconds"].otel_name):
        local, sdk = _points(local_data, name), _points(sdk_data, name)
        assert set(local) == set(sdk) and local, name
        for key, dp in local.items():
            assert dp.count == sdk[key].count and list(dp.explicit_bounds) == list(sdk[key].explicit_bounds)
    timeouts = SPECS["db_client_connection_timeouts"].otel_name
    assert [dp.value for dp in _points(local_data, timeouts).values()] == [1]
    metric = next(m for rm in local_data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                  if m.name == requests)
    assert metric.data.is_monotonic and metric.data.aggregation_temporality.name == "CUMULATIVE"


def test_owned_provider_traces_httpx_calls_with_lean_client_spans(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    """On configure()'s provider, outgoing httpx calls (sync and async) get infersight's lean
    CLIENT span: the callee's address, the redacted URL, the status, the traceparent the callee
    receives, errors with their type; uninstrumenting puts httpx's own methods back."""
    from opentelemetry.sdk.trace import Span as SdkSpan

    receiver, url = otlp_receiver
    seen: list[str | None] = []
    downstream = FastAPI()

    @downstream.get("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        seen.append(request.headers.get("traceparent"))
        return {}

    @downstream.get("/fail")
    async def fail() -> None:
        raise HTTPException(503)

    original = (httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request)
    with serve(downstream) as down:
        app, (tel, _state) = _owned_app(url, instrument_clients=True)  # type: ignore[misc]

        @app.get("/call")
        async def call() -> dict[str, int]:
            async with httpx.AsyncClient() as client:
                ok = await client.get(f"{down}/echo?token=s3cret")
                failed = await client.get(f"{down}/fail")
            with httpx.Client() as sync_client:
                sync_client.get(f"{down}/echo")
                with pytest.raises(httpx.ConnectError):
                    sync_client.get("http://127.0.0.1:9/refused")
            return {"ok": ok.status_code, "failed": failed.status_code}

        try:
            assert httpx.HTTPTransport.handle_request is not original[0], "the lean patch is installed"
            with serve(app) as base:
                assert httpx.get(f"{base}/call").json() == {"ok": 200, "failed": 503}
        finally:
            uninstrument_app(app)
            tel.shutdown()
    assert (httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request) == original
    spans = [s for _, scope, s in receiver.spans()]
    (server,) = [s for s in spans if s.name == "GET /call"]
    clients = [s for s in spans if s.kind == s.SPAN_KIND_CLIENT]
    (outer,) = [s for s in clients if s.span_id == server.parent_span_id]  # the test's own call
    assert outer.trace_id == server.trace_id and not outer.parent_span_id
    clients = [s for s in clients if s is not outer]
    assert len(clients) == 4
    for span in clients:
        assert span.trace_id == server.trace_id and span.parent_span_id == server.span_id
        assert span.name == "GET"
    attrs = [{kv.key: kv.value for kv in s.attributes} for s in clients]
    port = int(down.rsplit(":", 1)[1])
    first = attrs[0]
    assert first["server.address"].string_value == "127.0.0.1" and first["server.port"].int_value == port
    assert first["url.full"].string_value == f"{down}/echo?token=REDACTED"
    assert first["http.response.status_code"].int_value == 200 and "error.type" not in first
    assert seen[0] is not None and seen[0].split("-")[2] == clients[0].span_id.hex(), \
        "the callee's parent is the CLIENT span"
    assert attrs[1]["error.type"].string_value == "503"
    assert clients[1].status.code == clients[1].status.STATUS_CODE_ERROR
    refused = clients[3]
    assert attrs[3]["error.type"].string_value == "ConnectError"
    (event,) = [e for e in refused.events if e.name == "exception"]
    assert {kv.key: kv.value.string_value for kv in event.attributes}["exception.message"] == ""
    assert not isinstance(tel.tracer_provider.get_tracer("x").start_span("probe"), SdkSpan)
