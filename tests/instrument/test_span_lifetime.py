"""Request spans must not outlive their request (long-lived per-request objects set off full GCs).

uvicorn schedules its keep-alive timer (``loop.call_later``) inside the last ``send`` of a
response; the timer copies the current contextvars context and asyncio keeps cancelled timers
until it purges them, ~100 requests later. If the request's span is current in that copy, every
span (with its attributes and context objects) survives its request, gets promoted to the old
GC generation and sets off a full collection every few seconds under load.
"""

from __future__ import annotations

import gc

import httpx
from infersight.instrument import configure, instrument_app, uninstrument_app
from infersight.instrument.export._leanspan import LeanSpan
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import Span as SdkSpan
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import OtlpReceiver, Providers, make_app, serve

REQUESTS = 160  # asyncio purges cancelled timers once 100+ are scheduled: before the fix ~60 stay


def _alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


def test_lean_spans_do_not_outlive_their_request(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    receiver, url = otlp_receiver
    tel = configure("lifetime", endpoint=url, schedule_delay_ms=50, metric_reader=InMemoryMetricReader(),
                    set_global=False)
    app = make_app()
    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False, loop_lag=False)
    assert state._lean is not None
    try:
        with serve(app) as base, httpx.Client(base_url=base) as client:  # one keep-alive connection
            for i in range(REQUESTS):
                assert client.get(f"/items/{i}").status_code == 200
            alive = _alive(LeanSpan)  # the server is still up: its timers are still scheduled
    finally:
        uninstrument_app(app)
        tel.shutdown()
    assert alive <= 2, f"{alive} request spans are still referenced after their requests ended"
    assert len([s for s in receiver.spans() if s[2].kind == s[2].SPAN_KIND_SERVER]) == REQUESTS


def test_sdk_spans_do_not_outlive_their_request(providers: Providers) -> None:
    providers.spans.clear()
    app = make_app()
    instrument_app(app, **providers.kwargs(), loop_lag=False)
    try:
        with serve(app) as base, httpx.Client(base_url=base) as client:
            for i in range(REQUESTS):
                assert client.get(f"/items/{i}").status_code == 200
            finished = {id(s) for s in providers.spans.get_finished_spans()}
            # the in-memory exporter keeps the finished ReadableSpans; the live SDK Span objects
            # are what a timer's context copy would hold
            alive = sum(1 for o in gc.get_objects() if isinstance(o, SdkSpan) and id(o) not in finished)
    finally:
        uninstrument_app(app)
    assert alive <= 2, f"{alive} request spans are still referenced after their requests ended"
