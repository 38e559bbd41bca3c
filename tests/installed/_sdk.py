"""Send spans with the real OTel SDK exporters (HTTP and gRPC) and keep the acknowledged ids."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


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
