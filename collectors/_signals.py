"""The three OTLP signals: request/response messages, converters, and decoding of raw bodies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from ._errors import DecodeError
from ._logs import convert_logs
from ._metrics import convert_metrics
from ._otlp_json import parse_json, to_json
from ._traces import Converted, convert_traces
from ._wire import parse_wire

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class Signal:
    name: str                      # traces | metrics | logs
    request: type[Message]
    response: type[Message]
    convert: Callable[[Any], Converted]
    rejected_field: str            # rejected_spans | rejected_data_points | rejected_log_records
    parse_protobuf: Callable[[bytes], Any] | None = None  # a faster parse that ``convert`` also takes

    def decode(self, body: bytes, content_type: str) -> Any:
        msg = self.request()
        if content_type == JSON:
            return parse_json(body, msg)
        if self.parse_protobuf is not None:
            return self.parse_protobuf(body)
        try:
            msg.ParseFromString(body)
        except (ProtoDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"invalid OTLP protobuf: {exc}") from None
        return msg

    def response_body(self, conv: Converted | None, content_type: str) -> bytes:
        resp = self.response()
        if conv is not None and conv.rejected:
            ps = resp.partial_success  # type: ignore[attr-defined]
            setattr(ps, self.rejected_field, conv.rejected)
            ps.error_message = f"{conv.rejected} {self.name} item(s) rejected: {conv.reason}"
        return to_json(resp) if content_type == JSON else resp.SerializeToString()


SIGNALS: dict[str, Signal] = {
    "traces": Signal("traces", trace_pb.ExportTraceServiceRequest, trace_pb.ExportTraceServiceResponse,
                     convert_traces, "rejected_spans", parse_wire),
    "metrics": Signal("metrics", metrics_pb.ExportMetricsServiceRequest, metrics_pb.ExportMetricsServiceResponse,
                      convert_metrics, "rejected_data_points"),
    "logs": Signal("logs", logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse,
                   convert_logs, "rejected_log_records"),
}
