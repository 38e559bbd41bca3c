"""Fixtures for the instrument tests: fresh SDK providers and registries per test."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

with warnings.catch_warnings():  # starlette's testclient touches a deprecated anyio alias on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["OtlpReceiver", "Providers", "TestClient", "make_app", "serve"]


@dataclass
class Providers:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    registry: CollectorRegistry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def kwargs(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider,
                "registry": self.registry, "instrument_clients": False}

    def server_spans(self) -> list[Any]:
        from opentelemetry.trace import SpanKind

        return [s for s in self.spans.get_finished_spans() if s.kind == SpanKind.SERVER]

    def otel_metrics(self) -> dict[str, Any]:
        data = self.reader.get_metrics_data()
        out: dict[str, Any] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).append((sm.scope.name, m))
        return out


@pytest.fixture
def providers() -> Iterator[Providers]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    yield Providers(tp, mp, CollectorRegistry(), exporter, reader)
    _stop_gc_monitors()
    tp.shutdown()
    mp.shutdown()


async def read_body(receive: Any) -> bytes:
    """The whole request body of an ASGI http request."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


class OtlpReceiver:
    """A real OTLP/HTTP endpoint (uvicorn on a free port) that keeps every request body."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.headers: dict[str, list[dict[str, str]]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        self.bodies.setdefault(scope["path"], []).append(body)
        self.headers.setdefault(scope["path"], []).append(
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-protobuf")]})
        await send({"type": "http.response.body", "body": b""})

    def spans(self) -> list[Any]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        out = []
        for body in self.bodies.get("/v1/traces", []):
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    out.extend((rs.resource, ss.scope, span) for span in ss.spans)
        return out


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Run an ASGI app under a real uvicorn server on a free 127.0.0.1 port (``config``: more
    ``uvicorn.Config`` arguments, e.g. ``ssl_certfile``/``ssl_keyfile`` for an https URL)."""
    import threading
    import time

    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="auto", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if config.get('ssl_certfile') else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[OtlpReceiver, str]]:
    receiver = OtlpReceiver()
    with serve(receiver) as url:
        yield receiver, url


def _stop_gc_monitors() -> None:
    """Tests that do not uninstrument leave GC hooks and drain threads behind: stop them."""
    import gc

    from infersight.instrument.runtime._gc import GcMonitor

    for cb in list(gc.callbacks):
        owner = getattr(cb, "__self__", None)
        if isinstance(owner, GcMonitor):
            owner.uninstall()


def make_app(**kwargs: Any) -> FastAPI:
    app = FastAPI(**kwargs)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.post("/predict")
    async def predict(payload: dict[str, Any]) -> dict[str, Any]:
        return {"n": len(payload)}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout")

    @app.get("/sync/{x}")
    def sync_route(x: str) -> dict[str, str]:
        return {"x": x}

    return app


@pytest.fixture
def app() -> FastAPI:
    return make_app()
