"""The one seam into the OTel SDK's private attributes (``_sdk_compat``), on the SDK installed here.

Every seam either answers with the SDK's real object or says "not available", and infersight's
public path still delivers spans. ``tests/instrument/sdk_matrix.sh`` runs this file on the oldest
SDK pyproject.toml allows as well (in a temporary venv).
"""

from __future__ import annotations

import collections
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from infersight.instrument import _sdk_compat as compat
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON, ParentBased


def test_the_sdk_version_is_read() -> None:
    assert compat.SDK_VERSION[:1] == (1,) and compat.SDK_VERSION >= (1, 25)


def test_sampler_and_attribute_seams() -> None:
    from opentelemetry.attributes import BoundedAttributes

    assert compat.is_parent_based_always_on(DEFAULT_ON)
    assert compat.is_parent_based_always_on(TracerProvider().sampler)
    assert not compat.is_parent_based_always_on(ParentBased(ALWAYS_OFF))
    assert not compat.is_parent_based_always_on(ALWAYS_OFF)
    bounded = BoundedAttributes(maxlen=4, attributes={"a": 1, "b": "x"})
    assert dict(compat.plain_attributes(bounded)) == {"a": 1, "b": "x"}
    assert compat.plain_attributes({"c": 2}) == {"c": 2}


def test_provider_and_batch_processor_seams() -> None:
    provider = TracerProvider()
    processor = BatchSpanProcessor(InMemorySpanExporter(), max_queue_size=8, max_export_batch_size=4)
    provider.add_span_processor(processor)
    assert compat.span_processors(provider) == (processor,)
    raw = compat.span_processors_raw(provider)
    assert tuple(raw) == (processor,) and compat.span_processors_raw(provider) is raw
    extra = BatchSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(extra)
    assert compat.span_processors_raw(provider) is not raw, "adding a processor must be visible by identity"
    extra.shutdown()
    view = compat.batch_view(processor)
    assert isinstance(view.queue, collections.deque) and view.queue.maxlen == 8
    assert view.worker_alive() and not view.is_shut_down()
    if not compat.bounded_batch_shutdown(processor, 2000):
        processor.shutdown()
    assert view.is_shut_down() and not view.worker_alive()


def test_exporter_seams() -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces")
    assert compat.exporter_endpoint(exporter) == "http://127.0.0.1:9/v1/traces"
    assert not compat.exporter_is_shut_down(exporter)
    exporter.shutdown()
    assert compat.exporter_is_shut_down(exporter)
    metric = OTLPMetricExporter(endpoint="http://127.0.0.1:9/v1/metrics")
    assert isinstance(compat.preferred_temporality(metric), dict)
    # the lean export path needs the SDK's pluggable client; where it is missing, it is off
    assert compat.lean_export_supported(OTLPSpanExporter()) == (compat.otlp_http_client(OTLPSpanExporter())
                                                                is not None)
    if compat.HAS_HTTP_TRANSPORT:
        assert compat.lean_export_supported(OTLPSpanExporter())
        assert isinstance(compat.client_transport(compat.otlp_http_client(OTLPSpanExporter())),
                          compat.BaseHTTPTransport)


def test_contrib_semconv_switch_and_logs_sdk() -> None:
    assert compat.force_stable_http_semconv() is True
    logs = compat.logs_sdk()
    assert logs is not None and logs.LoggerProvider is not None
    provider = logs.LoggerProvider()
    handler = logs.handler(40, provider)  # no DeprecationWarning escapes (pytest turns them into errors)
    assert handler.level == 40
    provider.shutdown()


class _Sink(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.endswith("/v1/traces"):
            type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def sink() -> Iterator[str]:
    _Sink.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_instrumented_app_delivers_its_server_span_on_this_sdk(sink: str) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from infersight.instrument import configure, instrument_app, instrumentation_of, uninstrument_app
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from prometheus_client import CollectorRegistry

    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    tel = configure("compat-svc", endpoint=sink, schedule_delay_ms=50, set_global=False)
    try:
        instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                       registry=CollectorRegistry(), gc=False, loop_lag=False, instrument_clients=False)
        state = instrumentation_of(app)
        assert state is not None
        with TestClient(app) as client:
            assert client.get("/items/7").status_code == 200
        tel.flush()
        names = []
        for body in _Sink.bodies:
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {a.key: a.value for a in span.attributes}
                        names.append((span.name, attrs["http.route"].string_value if "http.route" in attrs else None))
        assert ("GET /items/{item_id}", "/items/{item_id}") in names
    finally:
        uninstrument_app(app)
        tel.shutdown()
