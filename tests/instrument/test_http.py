"""Lean-mode HTTP: SERVER spans, propagation, RED metrics with exemplars, health, (un)instrumenting."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest
from fastapi import FastAPI
from infersight.instrument import (
    GpuOptions,
    HealthOptions,
    InstrumentError,
    add_readiness_check,
    instrument_app,
    instrumentation_of,
    uninstrument_app,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.instrument.conftest import Providers, TestClient, make_app

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _families(client: TestClient) -> dict[str, Any]:
    resp = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def test_server_span_has_semconv_attributes_and_route_template(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, **providers.kwargs())
    with TestClient(app) as client:
        assert client.get("/items/42?verbose=1", headers={"User-Agent": "t/1"}).json() == {"item_id": 42}
    (span,) = providers.server_spans()
    assert span.name == "GET /items/{item_id}"
    attrs = dict(span.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.route"] == "/items/{item_id}"
    assert attrs["http.response.status_code"] == 200
    assert attrs["url.path"] == "/items/42"
    assert attrs["url.query"] == "verbose=REDACTED", "query values are never captured by default"
    assert attrs["server.address"] == "testserver"
    assert attrs["user_agent.original"] == "t/1"
    assert attrs["infersight.gc.pause_ms"] >= 0.0
    assert span.parent is None
    assert span.status.status_code != StatusCode.ERROR


def test_incoming_traceparent_is_continued(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, **providers.kwargs())
    with TestClient(app) as client:
        client.get("/items/1", headers={"traceparent": TRACEPARENT})
    (span,) = providers.server_spans()
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert span.parent.is_remote


def test_errors_unmatched_routes_and_odd_methods(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, **providers.kwargs())
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
        assert client.get("/teapot").status_code == 418
        assert client.get("/no/such/path/123").status_code == 404
        client.request("FROB", "/items/1")
        fams = _families(client)
    by_method: dict[str, list[Any]] = {}
    for s in providers.server_spans():
        by_method.setdefault(s.attributes["http.request.method"], []).append(s)
    spans = {s.attributes["url.path"]: s for s in by_method["GET"]}
    boom = spans["/boom"]
    assert boom.status.status_code == StatusCode.ERROR
    assert boom.attributes["error.type"] == "RuntimeError"
    assert boom.attributes["http.response.status_code"] == 500
    assert any(e.name == "exception" for e in boom.events)
    assert spans["/teapot"].status.status_code == StatusCode.UNSET
    # no route matched: the raw path (whatever the caller sent) is not stored
    unmatched = spans["/{unmatched}"]
    assert unmatched.name == "GET" and "http.route" not in unmatched.attributes
    assert "/no/such/path/123" not in spans
    (odd,) = by_method["_OTHER"]
    assert odd.attributes["http.request.method"] == "_OTHER"
    assert odd.attributes["http.request.method_original"] == "FROB"
    # labels stay low-cardinality: route templates or "_unmatched", never raw paths
    routes = {s.labels["http_route"] for s in fams["http_server_requests"].samples}
    assert routes == {"/boom", "/teapot", "_unmatched", "/items/{item_id}"}
    classes = {s.labels["http_status_class"] for s in fams["http_server_requests"].samples}
    assert classes == {"5xx", "4xx"}


def test_red_metrics_with_trace_exemplars(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, **providers.kwargs())
    with TestClient(app) as client:
        for i in range(3):
            client.get(f"/items/{i}")
        client.post("/predict", json={"a": 1, "b": 2})
        fams = _families(client)
    trace_ids = {format(s.context.trace_id, "032x") for s in providers.server_spans()}
    dur = fams["http_server_request_duration_seconds"]
    counts = {tuple(sorted(s.labels.items())): s.value for s in dur.samples if s.name.endswith("_count")}
    key = (("http_request_method", "GET"), ("http_route", "/items/{item_id}"), ("http_status_class", "2xx"))
    assert counts[key] == 3
    exemplars = [s.exemplar for s in dur.samples if s.name.endswith("_bucket") and s.exemplar]
    assert exemplars, "OpenMetrics exposition must carry exemplars"
    assert {e.labels["trace_id"] for e in exemplars} <= trace_ids
    for s in dur.samples:
        assert set(s.labels) - {"le"} == {"http_request_method", "http_route", "http_status_class"}
    les = {float(s.labels["le"]) for s in dur.samples if s.name.endswith("_bucket")}
    assert min(les) == 0.005 and max(x for x in les if x != float("inf")) == 30.0
    size = fams["http_server_response_body_size_bytes"]
    size_sum = [s.value for s in size.samples if s.name.endswith("_sum") and s.labels["http_route"] == "/predict"]
    assert size_sum == [len(b'{"n":2}')]
    active = fams["http_server_active_requests"]
    assert all(s.value == 0 for s in active.samples)
    # the same duration also goes out over OTLP under the semconv name
    (scope, metric), = providers.otel_metrics()["http.server.request.duration"]
    assert scope == "infersight.instrument" and metric.unit == "s"
    routes = {dp.attributes.get("http.route") for dp in metric.data.data_points}
    assert routes == {"/items/{item_id}", "/predict"}


def test_plain_text_exposition_is_the_default(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, **providers.kwargs())
    with TestClient(app) as client:
        client.get("/items/1")
        resp = client.get("/metrics")
    assert resp.headers["content-type"].startswith("text/plain")
    assert "http_server_requests_total{" in resp.text
    assert "# {trace_id=" not in resp.text


def test_unsampled_requests_are_counted_without_exemplars(app: FastAPI, providers: Providers) -> None:
    tp = TracerProvider(sampler=ALWAYS_OFF)
    tp.add_span_processor(SimpleSpanProcessor(providers.spans))
    instrument_app(app, **{**providers.kwargs(), "tracer_provider": tp})
    with TestClient(app) as client:
        client.get("/items/1")
        fams = _families(client)
    assert providers.spans.get_finished_spans() == ()
    dur = fams["http_server_request_duration_seconds"]
    assert [s.value for s in dur.samples if s.name.endswith("_count")] == [1]
    assert not [s for s in dur.samples if s.exemplar]


def test_health_endpoints_are_not_traced_or_counted(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, **providers.kwargs())
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "checks": {}}
        client.get("/metrics")
        fams = _families(client)
    assert providers.server_spans() == []
    assert "http_server_requests" not in fams or not fams["http_server_requests"].samples


def test_readiness_failures_answer_503_with_reasons(app: FastAPI, providers: Providers) -> None:
    loaded = {"model": False}

    def model_loaded() -> tuple[bool, str]:
        return loaded["model"], "" if loaded["model"] else "weights still loading"

    async def gpu_reachable() -> bool:
        raise OSError("NVML: driver not loaded")

    instrument_app(app, health=HealthOptions(checks={"model": model_loaded}, timeout_s=0.5, live_path="/live",
                                             ready_path="/ready"), **providers.kwargs())
    with TestClient(app) as client:
        ok = client.get("/ready")
        assert ok.status_code == 503
        assert ok.json()["checks"]["model"] == {"ok": False, "reason": "weights still loading"}
        loaded["model"] = True
        assert client.get("/ready").status_code == 200
        add_readiness_check(app, "gpu", gpu_reachable)

        async def slow() -> bool:
            await asyncio.sleep(5)
            return True

        add_readiness_check(app, "slow", slow)
        bad = client.get("/ready")
        assert client.get("/live").status_code == 200
        fams = _families(client)
    assert bad.status_code == 503
    body = bad.json()
    assert body["status"] == "not ready"
    assert body["checks"]["gpu"] == {"ok": False, "reason": "OSError: NVML: driver not loaded"}
    assert body["checks"]["slow"]["reason"].startswith("timed out")
    assert "gpu: OSError" in body["reason"]
    assert fams["infersight_ready"].samples[0].value == 0


def test_add_readiness_check_needs_an_instrumented_app() -> None:
    with pytest.raises(InstrumentError, match="instrument_app"):
        add_readiness_check(FastAPI(), "x", lambda: True)


def test_instrumenting_twice_warns_and_does_nothing(app: FastAPI, providers: Providers,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    first = instrument_app(app, **providers.kwargs())
    with caplog.at_level(logging.WARNING, logger="infersight.instrument"):
        second = instrument_app(app, **providers.kwargs())
    assert second is first
    assert "already instrumented" in caplog.text
    with TestClient(app) as client:
        client.get("/items/1")
    assert len(providers.server_spans()) == 1


def test_uninstrument_removes_middleware_and_gc_hook(app: FastAPI, providers: Providers) -> None:
    state = instrument_app(app, **providers.kwargs())
    assert state.gc is not None and state.gc._callback in gc.callbacks
    with TestClient(app) as client:
        client.get("/items/1")
        assert uninstrument_app(app) is True
        client.get("/items/2")
        assert client.get("/metrics").status_code == 404
    assert state.gc._callback not in gc.callbacks
    assert len(providers.server_spans()) == 1
    assert instrumentation_of(app) is None
    assert uninstrument_app(app) is False


def test_fastapi_native_telemetry_does_not_double_trace(providers: Providers) -> None:
    native = make_app(telemetry={"tracer_provider": providers.tracer_provider,
                                 "meter_provider": providers.meter_provider, "logs": False})
    with TestClient(native) as client:
        client.get("/items/1")
    assert len(providers.server_spans()) == 1, "FastAPI's own telemetry traces this app"
    providers.spans.clear()

    app = make_app(telemetry={"tracer_provider": providers.tracer_provider,
                              "meter_provider": providers.meter_provider, "logs": False})
    instrument_app(app, **providers.kwargs())
    with TestClient(app) as client:
        client.get("/items/1")
    spans = providers.server_spans()
    assert len(spans) == 1
    assert spans[0].instrumentation_scope.name == "infersight.instrument"
    uninstrument_app(app)
    assert app._telemetry["tracing"] is True


class _Hook:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_request_start(self, span: Any, start_ns: int) -> Any:
        self.calls.append(("start", start_ns))
        return "state"

    def on_request_end(self, span: Any, state: Any, start_ns: int, end_ns: int) -> None:
        assert span.is_recording(), "hooks run before the SERVER span ends"
        span.set_attribute("test.hook", state)
        self.calls.append(("end", end_ns - start_ns))


class _BrokenHook:
    def on_request_start(self, span: Any, start_ns: int) -> Any:
        raise RuntimeError("start broke")

    def on_request_end(self, span: Any, state: Any, start_ns: int, end_ns: int) -> None:
        raise RuntimeError("end broke")


def test_request_hooks_run_and_failures_are_counted_not_raised(app: FastAPI, providers: Providers) -> None:
    state = instrument_app(app, **providers.kwargs())
    hook = _Hook()
    state.hooks.extend([_BrokenHook(), hook])
    with TestClient(app) as client:
        assert client.get("/items/7").status_code == 200
        fams = _families(client)
    assert [c[0] for c in hook.calls] == ["start", "end"] and hook.calls[1][1] >= 0
    (span,) = providers.server_spans()
    assert span.attributes["test.hook"] == "state"
    errors = {s.labels["hook"]: s.value for s in fams["infersight_hook_errors"].samples
              if s.name.endswith("_total")}
    assert errors == {"_BrokenHook": 2}


def test_bad_arguments_are_refused(app: FastAPI, providers: Providers) -> None:
    from infersight.instrument import ConfigurationError

    with pytest.raises(ConfigurationError, match="mode"):
        instrument_app(app, mode="fast", **providers.kwargs())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="start with"):
        instrument_app(app, health=HealthOptions(metrics_path="metrics"), **providers.kwargs())
    assert instrumentation_of(app) is None


def test_a_gpu_option_typo_is_refused_like_any_bad_argument(app: FastAPI, providers: Providers) -> None:
    from infersight.instrument import ConfigurationError

    callbacks = list(gc.callbacks)
    with pytest.raises(ConfigurationError, match="no_such_option"):
        instrument_app(app, gpu=True, gpu_options={"no_such_option": 1}, **providers.kwargs())
    assert instrumentation_of(app) is None
    assert gc.callbacks == callbacks  # nothing half-installed is left behind


class _BrokenNvml:
    """An NVML module whose every call fails in a way the plane does not expect."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"broken driver binding: {name}")


def test_a_failing_gpu_plane_logs_one_warning_and_the_app_still_serves(app: FastAPI, providers: Providers,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="infersight.instrument"):
        state = instrument_app(app, gpu=GpuOptions(nvml=_BrokenNvml()), **providers.kwargs())
    warnings = [r for r in caplog.records if "GPU" in r.getMessage()]
    assert len(warnings) >= 1 and instrumentation_of(app) is state
    with TestClient(app) as client:
        assert client.get("/items/1").status_code == 200
    assert len(providers.server_spans()) == 1
    uninstrument_app(app)
