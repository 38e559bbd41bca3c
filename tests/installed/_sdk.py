"""Send telemetry with the real OTel SDK exporters (HTTP and gRPC) and keep the acknowledged ids."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode


class _Keep(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def send_batches(url: str, grpc_port: int | None, *, batches: int = 3, size: int = 50,
                 service: str = "installed-test") -> set[str]:
    """``batches`` batches of ``size`` spans over HTTP (and as many over gRPC when ``grpc_port``);
    returns the span ids of every batch whose export returned SUCCESS."""
    keep = _Keep()
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(keep)
    tracer = tp.get_tracer("tests.installed")
    exporters: list[SpanExporter] = [HttpSpanExporter(endpoint=f"{url}/v1/traces", timeout=10)]
    if grpc_port is not None:
        exporters.append(GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=10))
    acked: set[str] = set()
    try:
        for exporter in exporters:
            for b in range(batches):
                for i in range(size):
                    with tracer.start_as_current_span(f"op-{b}-{i}"):
                        pass
                batch, keep.spans = keep.spans, []
                if exporter.export(batch) is SpanExportResult.SUCCESS:
                    acked |= {format(s.context.span_id, "016x") for s in batch if s.context}
    finally:
        for exporter in exporters:
            exporter.shutdown()
        tp.shutdown()
    return acked


def replay(url: str, spans: list[dict[str, Any]], points: list[dict[str, Any]], *, batch: int = 512) -> int:
    """Send hand-made telemetry (``tests.analysis._synth.Builder`` rows) through the real SDK
    exporters: each row becomes the SDK's own ReadableSpan / gauge point with its timestamps.
    Returns the number of spans acknowledged."""
    exporter = HttpSpanExporter(endpoint=f"{url}/v1/traces", timeout=30)
    sent = 0
    try:
        sdk_spans = [_sdk_span(s) for s in spans]
        for i in range(0, len(sdk_spans), batch):
            part = sdk_spans[i:i + batch]
            assert exporter.export(part) is SpanExportResult.SUCCESS
            sent += len(part)
    finally:
        exporter.shutdown()
    if points:
        metrics = HttpMetricExporter(endpoint=f"{url}/v1/metrics", timeout=30)
        try:
            assert metrics.export(_metrics_data(points)) is MetricExportResult.SUCCESS
        finally:
            metrics.shutdown()
    return sent


_KINDS = {"Server": SpanKind.SERVER, "Client": SpanKind.CLIENT, "Internal": SpanKind.INTERNAL,
          "Producer": SpanKind.PRODUCER, "Consumer": SpanKind.CONSUMER}


def _ns(ts: Any) -> int:
    return int(ts.value) if hasattr(ts, "value") else int(ts)


def _sdk_span(row: dict[str, Any]) -> ReadableSpan:
    trace_id, span_id = int(row["TraceId"], 16), int(row["SpanId"], 16)
    ctx = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    parent = (SpanContext(trace_id, int(row["ParentSpanId"], 16), is_remote=False)
              if row["ParentSpanId"] else None)
    start = _ns(row["Timestamp"])
    events = [Event(name, dict(attrs), _ns(ts)) for ts, name, attrs in
              zip(row["Events.Timestamp"], row["Events.Name"], row["Events.Attributes"], strict=True)]
    status = Status(StatusCode.ERROR) if row["StatusCode"] == "Error" else Status(StatusCode.UNSET)
    return ReadableSpan(row["SpanName"], ctx, parent, Resource(dict(row["ResourceAttributes"])),
                        dict(row["SpanAttributes"]), events, (), _KINDS[row["SpanKind"]], status=status,
                        start_time=start, end_time=start + int(row["Duration"]),
                        instrumentation_scope=InstrumentationScope("tests.installed.replay"))


def _metrics_data(points: list[dict[str, Any]]) -> MetricsData:
    by_name: dict[str, list[NumberDataPoint]] = {}
    for p in points:
        t = _ns(p["TimeUnix"])
        by_name.setdefault(p["MetricName"], []).append(
            NumberDataPoint(dict(p["Attributes"]), t, t, float(p["Value"])))
    metrics = [Metric(name, None, None, Gauge(pts)) for name, pts in by_name.items()]
    service = points[0].get("ServiceName", "model-server")
    return MetricsData([ResourceMetrics(Resource({"service.name": service}),
                                        [ScopeMetrics(InstrumentationScope("tests.installed.replay"), metrics, "")],
                                        "")])
