"""The real OpenTelemetry SDK exporters (HTTP protobuf, gRPC) against a real running collector.

(The Python SDK has no OTLP/HTTP JSON exporter; JSON is covered by raw requests in
test_http_status.py and test_json_decoding.py.)
"""

from __future__ import annotations

import pytest
from infersight.collectors import Collector
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

pytestmark = pytest.mark.integration
RES = Resource.create({"service.name": "sdk-test", "deployment.environment": "ci"})


def _rows(col: Collector, sql: str) -> list[tuple[object, ...]]:
    assert col.con is not None
    cur = col.con.cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_sdk_spans_arrive_with_exporter_schema(collector: Collector, transport: str) -> None:
    if transport == "http":
        exporter = HttpSpanExporter(endpoint=collector.url + "/v1/traces")
    else:
        exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
    tp = TracerProvider(resource=RES)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("infersight.tests", "0.1")
    with tracer.start_as_current_span("POST /predict", kind=SpanKind.SERVER,
                                      attributes={"http.route": "/predict", "retry": True, "n": 3,
                                                  "ratio": 0.5, "tags": ["a", "b"]}) as root:
        with tracer.start_as_current_span("cache.get", kind=SpanKind.CLIENT) as child:
            child.add_event("miss", {"key": "user:1"})
            child.set_status(Status(StatusCode.ERROR, "boom"))
    tp.shutdown()
    rows = _rows(collector, '''SELECT "SpanName", "SpanKind", "ServiceName", "TraceId", "SpanId", "ParentSpanId",
                                      "StatusCode", "StatusMessage", "SpanAttributes", "ResourceAttributes",
                                      "Events.Name", "Events.Attributes", "ScopeName", "Duration"
                               FROM otel_traces ORDER BY "SpanName"''')
    assert len(rows) == 2
    (c_name, c_kind, c_svc, c_tid, c_sid, c_parent, c_code, c_msg, _, _, c_ev, c_eva, _, _) = rows[1]
    (r_name, r_kind, r_svc, r_tid, r_sid, r_parent, r_code, _, r_attrs, r_res, _, _, r_scope, r_dur) = rows[0]
    ctx = root.get_span_context()
    assert r_name == "POST /predict" and r_kind == "Server" and r_svc == "sdk-test"
    assert r_tid == format(ctx.trace_id, "032x") and r_sid == format(ctx.span_id, "016x")
    assert r_parent == "" and r_code == "Unset" and r_scope == "infersight.tests"
    assert r_attrs == {"http.route": "/predict", "retry": "true", "n": "3", "ratio": "0.5", "tags": '["a","b"]'}
    assert r_res["deployment.environment"] == "ci"
    assert isinstance(r_dur, int) and r_dur > 0
    assert c_name == "cache.get" and c_kind == "Client" and c_tid == r_tid and c_parent == r_sid
    assert c_sid == format(child.get_span_context().span_id, "016x")
    assert (c_code, c_msg, c_ev, c_eva) == ("Error", "boom", ["miss"], [{"key": "user:1"}])


def test_sdk_metrics_over_http(collector: Collector) -> None:
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=collector.url + "/v1/metrics"),
                                           export_interval_millis=60_000)
    mp = MeterProvider(resource=RES, metric_readers=[reader])
    meter = mp.get_meter("infersight.tests")
    meter.create_counter("requests", unit="1").add(5, {"route": "/predict"})
    meter.create_histogram("latency", unit="s").record(0.25, {"route": "/predict"})
    meter.create_up_down_counter("inflight").add(2)
    meter.create_observable_gauge("gpu.util", callbacks=[lambda _o: [__import__(
        "opentelemetry.metrics", fromlist=["Observation"]).Observation(0.75, {"gpu": "0"})]])
    mp.shutdown()
    sums = _rows(collector, '''SELECT "MetricName", "Value", "IsMonotonic", "AggregationTemporality", "Attributes"
                               FROM otel_metrics_sum ORDER BY "MetricName"''')
    assert sums == [("inflight", 2.0, False, 2, {}), ("requests", 5.0, True, 2, {"route": "/predict"})]
    hist = _rows(collector, 'SELECT "MetricName", "Count", "Sum", "Min", "Max", len("BucketCounts") '
                            'FROM otel_metrics_histogram')
    assert hist[0][:5] == ("latency", 1, 0.25, 0.25, 0.25) and hist[0][5] > 1
    gauge = _rows(collector, 'SELECT "MetricName", "Value", "ServiceName" FROM otel_metrics_gauge')
    assert gauge == [("gpu.util", 0.75, "sdk-test")]


def test_sdk_logs_over_http(collector: Collector) -> None:
    lp = LoggerProvider(resource=RES)
    lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=collector.url + "/v1/logs")))
    lp.get_logger("infersight.tests.sdk").emit(
        body="pool timeout after 250 ms", severity_text="WARN", severity_number=SeverityNumber.WARN,
        attributes={"pool": "payments"})
    lp.shutdown()
    rows = _rows(collector, 'SELECT "SeverityText", "SeverityNumber", "Body", "ServiceName", "LogAttributes", '
                            '"ScopeName" FROM otel_logs')
    assert rows == [("WARN", 13, "pool timeout after 250 ms", "sdk-test", {"pool": "payments"},
                     "infersight.tests.sdk")]
