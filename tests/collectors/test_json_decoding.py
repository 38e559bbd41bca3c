"""OTLP/JSON rules: hex ids (any case), enums as integers, int64 as strings or numbers, unknown fields."""

from __future__ import annotations

import json

import pytest
from infersight.collectors import DecodeError
from infersight.collectors._signals import SIGNALS
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks.ingest.payload import make_request

from .conftest import otlp_json

TRACES = SIGNALS["traces"]


def _rows(req: ExportTraceServiceRequest) -> list[dict[str, object]]:
    conv = TRACES.convert(req)
    return conv.tables["otel_traces"].to_pylist()


@pytest.mark.parametrize("upper", [False, True])
def test_json_equals_protobuf(upper: bool) -> None:
    req = make_request(40, seed=21)
    via_json = TRACES.decode(json.dumps(otlp_json(req, upper=upper)).encode(), "application/json")
    assert _rows(via_json) == _rows(req)


def test_spec_examples_enum_ints_int64_strings_unknown_fields() -> None:
    doc = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "futureField": {"anything": [1, 2]},
            "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
                "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
                "parentSpanId": "eee19b7ec3c1b173", "name": "op", "kind": 2,
                "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
                "attributes": [{"key": "n", "value": {"intValue": "42"}},
                               {"key": "m", "value": {"intValue": 7}},
                               {"key": "b", "value": {"boolValue": True}},
                               {"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "x"},
                                                                                   {"doubleValue": 1.5}]}}}],
                "status": {"code": 2, "message": "bad"}, "unknownSpanField": "ignored",
            }]}],
        }],
    }
    req = TRACES.decode(json.dumps(doc).encode(), "application/json")
    (row,) = _rows(req)
    assert row["TraceId"] == "5b8efff798038103d269b633813fc60c"
    assert row["SpanId"] == "eee19b7ec3c1b174" and row["ParentSpanId"] == "eee19b7ec3c1b173"
    assert row["SpanKind"] == "Server" and row["StatusCode"] == "Error"
    assert row["Duration"] == 1_000_000_000
    assert dict(row["SpanAttributes"]) == {"n": "42", "m": "7", "b": "true", "arr": '["x",1.5]'}  # type: ignore[arg-type]


def test_enum_names_also_accepted() -> None:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "01" * 16, "spanId": "02" * 8, "kind": "SPAN_KIND_CLIENT", "name": "x"}]}]}]}
    (row,) = _rows(TRACES.decode(json.dumps(doc).encode(), "application/json"))
    assert row["SpanKind"] == "Client"


@pytest.mark.parametrize("body", [b"[]", b'"str"', b'{"resourceSpans": [{"scopeSpans": "no"}]}',
                                  b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}',
                                  b"\xff\xfe", b"{" * 100_000])
def test_bad_json_is_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        TRACES.decode(body, "application/json")


def test_bad_protobuf_is_decode_error() -> None:
    with pytest.raises(DecodeError):
        TRACES.decode(b"\x0a\xff\xff\xff\xff\x0f", "application/x-protobuf")
