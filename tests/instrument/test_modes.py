"""Lean (pure ASGI) and contrib (opentelemetry-instrumentation-fastapi) modes emit the same spans."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from infersight.instrument import PrivacyOptions, instrument_app, uninstrument_app

from tests.instrument.conftest import Providers, TestClient

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SHARED_ATTRS = ("http.request.method", "http.route", "http.response.status_code", "url.path", "url.scheme",
                "server.address")


def _exercise(app: FastAPI) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/items/5", headers={"traceparent": TRACEPARENT,
                                        "x-request-start": f"t={time.time_ns() // 1000 - 40_000}"})
        client.post("/predict", json={"x": 1})
        client.get("/boom")
        client.get("/healthz")
        client.get("/metrics")


@pytest.mark.parametrize("mode", ["lean", "contrib"])
def test_modes_share_span_names_attributes_and_runtime_annotations(mode: str, app: FastAPI,
                                                                   providers: Providers) -> None:
    instrument_app(app, mode=mode, **providers.kwargs())  # type: ignore[arg-type]
    _exercise(app)
    spans = providers.server_spans()
    assert sorted(s.name for s in spans) == ["GET /boom", "GET /items/{item_id}", "POST /predict"]
    others = [s for s in providers.spans.get_finished_spans()  # long GC pauses, a busy machine's loop stalls
              if s.name not in ("gc.pause", "event_loop.blocked")]
    assert all(s.kind.name == "SERVER" for s in others), "one span per request (no send/receive child spans)"
    by_name = {s.name: s for s in spans}
    item = by_name["GET /items/{item_id}"]
    for key in SHARED_ATTRS:
        assert key in item.attributes, (mode, key)
    assert item.attributes["http.route"] == "/items/{item_id}"
    assert item.attributes["http.response.status_code"] == 200
    assert format(item.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert item.parent is not None and item.parent.is_remote
    assert "infersight.gc.pause_ms" in item.attributes
    # a gateway's X-Request-Start (Apache's t=<microseconds>) 40 ms before the request reached us
    assert item.attributes["infersight.request.arrival_source"] == "x-request-start"
    assert item.attributes["infersight.loop.queued_ms"] >= 40
    assert "infersight.loop.queued_ms" not in by_name["POST /predict"].attributes or \
        by_name["POST /predict"].attributes["infersight.request.arrival_source"] == "loop-block-estimate"
    assert by_name["GET /boom"].attributes["http.response.status_code"] == 500
    assert by_name["GET /boom"].status.status_code.name == "ERROR"
    # the OTLP duration histogram exists exactly once whichever part records it
    durations = providers.otel_metrics()["http.server.request.duration"]
    assert len(durations) == 1
    routes = {dp.attributes.get("http.route") for _, m in durations for dp in m.data.data_points}
    assert "/items/{item_id}" in routes


def test_contrib_uninstrument_restores_the_app(app: FastAPI, providers: Providers) -> None:
    instrument_app(app, mode="contrib", **providers.kwargs())
    assert getattr(app, "_is_instrumented_by_opentelemetry", False)
    uninstrument_app(app)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    _exercise(app)
    assert providers.server_spans() == []


def test_contrib_options_reach_the_contrib_instrumentor(app: FastAPI, providers: Providers) -> None:
    seen: list[str] = []

    def hook(span: Any, scope: dict[str, Any]) -> None:
        seen.append(scope["path"])
        span.set_attribute("tenant", "t1")

    instrument_app(app, mode="contrib", contrib_options={"server_request_hook": hook}, **providers.kwargs())
    with TestClient(app) as client:
        client.get("/items/3")
    assert seen == ["/items/3"]
    (span,) = providers.server_spans()
    assert span.attributes["tenant"] == "t1"


@pytest.mark.parametrize("mode", ["lean", "contrib"])
@pytest.mark.parametrize("capture", [False, True])
def test_query_values_are_redacted_unless_opted_in(mode: str, capture: bool, app: FastAPI,
                                                    providers: Providers) -> None:
    # a prompt in a query string must not reach the collector unless the owner asks for it
    instrument_app(app, mode=mode, privacy=PrivacyOptions(capture_query=capture), **providers.kwargs())  # type: ignore[arg-type]
    with TestClient(app) as client:
        client.get("/items/5?prompt=my%20secret&flag&n=2")
    (span,) = providers.server_spans()
    # a part without "=" may be the secret itself (?SECRET): redacted like a value
    expected = "prompt=my%20secret&flag&n=2" if capture else "prompt=REDACTED&REDACTED&n=REDACTED"
    assert span.attributes["url.query"] == expected
