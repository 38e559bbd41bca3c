"""The wire decoder (_wire.py + _traces.py) gives exactly the rows of the full-parse converter it
replaced (tests/collectors/_reference_traces.py), on realistic, SDK-encoded and edge-case
payloads; invalid attributes are still a DecodeError (400), however often they are sent."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from hypothesis import given
from infersight.collectors import Collector, DecodeError
from infersight.collectors._attrs import MapColumn
from infersight.collectors._signals import SIGNALS
from infersight.collectors._traces import convert_traces
from infersight.collectors._wire import MEMO, AttrMemo, add_maps, parse_wire
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from benchmarks.ingest.payload import make_request

from . import _reference_traces as reference
from .conftest import PB
from .test_fuzz_decoders import trace_requests

TRACES = SIGNALS["traces"]


def _rows(conv: Any) -> list[dict[str, Any]]:
    return conv.tables["otel_traces"].to_pylist() if conv.tables else []


def assert_same(req: ExportTraceServiceRequest) -> Any:
    """Reference (full parse) vs the collector's protobuf path vs convert() of the real message."""
    body = req.SerializeToString()
    ref = reference.convert_traces(ExportTraceServiceRequest.FromString(body))
    fast = TRACES.convert(TRACES.decode(body, "application/x-protobuf"))
    again = convert_traces(req)  # gRPC / JSON / import hand over real messages
    for got in (fast, again):
        assert (got.accepted, got.rejected, got.reason) == (ref.accepted, ref.rejected, ref.reason)
        assert _rows(got) == _rows(ref)
    return fast


def _kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def test_benchmark_payloads() -> None:
    for seed in range(5):
        conv = assert_same(make_request(512, seed=seed))
        assert conv.accepted == 512
    req = make_request(300, seed=7)
    req.MergeFrom(make_request(200, seed=8, service="other"))
    assert assert_same(req).accepted == 500


def test_sdk_encoded_spans() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "deployment.environment": "t",
                                                        "process.pid": 42}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("lib.a", "1.2.3")
    other = provider.get_tracer("lib.b")
    with tracer.start_as_current_span("root", kind=trace.SpanKind.SERVER,
                                      attributes={"s": "x", "b": True, "i": -3, "f": 0.1, "big": 2**62,
                                                  "strs": ["a", "", "ü"], "ints": [1, 2], "bools": [False],
                                                  "floats": [1.0, 2.5], "empty": ""}) as root:
        root.add_event("ev", {"k": "v", "n": 1})
        root.add_event("no-attrs")
        with other.start_as_current_span("child", kind=trace.SpanKind.CLIENT,
                                         links=[trace.Link(root.get_span_context(), {"link.attr": 9}),
                                                trace.Link(root.get_span_context())]) as child:
            child.set_status(trace.Status(trace.StatusCode.ERROR, "boom ü"))
            child.record_exception(ValueError("bad"))
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(trace.StatusCode.OK)
    provider.shutdown()
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    conv = assert_same(encode_spans(spans))
    rows = {r["SpanName"]: r for r in _rows(conv)}
    assert dict(rows["root"]["SpanAttributes"])["strs"] == '["a","","ü"]'
    assert rows["child"]["StatusCode"] == "Error" and rows["child"]["Links.Attributes"][0] == [("link.attr", "9")]
    assert rows["child"]["Events.Name"] == ["exception"]


def test_edge_cases() -> None:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", string_value="edge"), _kv("dup", int_value=1),
                                   _kv("dup", int_value=2)])
    ss = rs.scope_spans.add()
    ss.scope.name = "s"
    rs.scope_spans.add()  # empty scope
    req.resource_spans.add()  # empty resource
    arr = AnyValue()
    arr.array_value.values.extend([AnyValue(string_value="a"), AnyValue(int_value=1), AnyValue(),
                                   AnyValue(double_value=1.5)])
    kvl = AnyValue()
    kvl.kvlist_value.values.extend([_kv("x", bool_value=True), KeyValue(key="nested", value=arr)])
    weird = [_kv("", string_value="empty key"), _kv("nan", double_value=math.nan),
             _kv("inf", double_value=-math.inf), _kv("neg0", double_value=-0.0), _kv("e21", double_value=1e21),
             _kv("tiny", double_value=1e-7), _kv("bytes", bytes_value=b"\x00\xff"), KeyValue(key="unset"),
             KeyValue(key="arr", value=arr), KeyValue(key="kvl", value=kvl), _kv("emoji", string_value="🙂"),
             _kv("k", string_value="first"), _kv("k", string_value="last")]
    tid, sid = bytes(range(1, 17)), bytes(range(1, 9))
    base = {"trace_id": tid, "span_id": sid, "start_time_unix_nano": 10, "end_time_unix_nano": 5}
    ss.spans.add(name="weird", attributes=weird, kind=9, status=Status(code=7, message="m"), **base)
    ss.spans.add(name="no-attrs", **base)
    ss.spans.add(name="root", kind=Span.SPAN_KIND_SERVER, trace_id=tid, span_id=b"\x09" * 8,
                 parent_span_id=b"", start_time_unix_nano=1, end_time_unix_nano=2**63 - 1)
    ev = ss.spans.add(name="events", **base)
    ev.events.add(time_unix_nano=3, name="e1", attributes=[_kv("a", string_value="b")])
    ev.events.add(time_unix_nano=4, name="e2")
    lk = ss.spans.add(name="links", **base)
    lk.links.add(trace_id=tid, span_id=sid, trace_state="t=1", attributes=[_kv("l", int_value=1)])
    lk.links.add(trace_id=b"\x01\x02", span_id=b"", trace_state="")  # odd link ids are kept, as hex
    # rejected: bad id lengths, zero ids, out-of-range timestamps (partial_success)
    ss.spans.add(name="short-trace", trace_id=b"\x01" * 15, span_id=sid)
    ss.spans.add(name="long-span", trace_id=tid, span_id=b"\x01" * 9)
    ss.spans.add(name="bad-parent", trace_id=tid, span_id=sid, parent_span_id=b"\x01" * 4)
    ss.spans.add(name="zero-trace", trace_id=b"\0" * 16, span_id=sid)
    ss.spans.add(name="ts", trace_id=tid, span_id=sid, start_time_unix_nano=2**63)
    bad_ev = ss.spans.add(name="ev-ts", **base)
    bad_ev.events.add(time_unix_nano=2**64 - 1, name="late")
    conv = assert_same(req)
    assert (conv.accepted, conv.rejected) == (5, 6)
    rows = {r["SpanName"]: r for r in _rows(conv)}
    weird_attrs = dict(rows["weird"]["SpanAttributes"])
    assert weird_attrs["k"] == "last" and weird_attrs["unset"] == "" and weird_attrs["nan"] == "NaN"
    assert rows["links"]["Links.TraceId"] == [tid.hex(), "0102"] and rows["links"]["Links.SpanId"][1] == ""
    assert rows["root"]["ParentSpanId"] == ""
    assert dict(rows["no-attrs"]["ResourceAttributes"])["dup"] == "2"


@given(trace_requests())
def test_random_requests_match_reference(req: ExportTraceServiceRequest) -> None:
    assert_same(req)


def _ld(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (payloads here stay under 128 bytes)."""
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def _request_with_raw_attribute(raw_kv: bytes) -> bytes:
    span = Span(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), name="n").SerializeToString()
    span += _ld(9, raw_kv)  # Span.attributes = 9
    return _ld(1, _ld(2, _ld(2, span)))  # resource_spans(1) -> scope_spans(2) -> spans(2)


BAD_ATTRIBUTES = {
    "non-utf8 key": _ld(1, b"\xff\xfe"),
    "non-utf8 string value": _ld(1, b"k") + _ld(2, _ld(1, b"\xc3\x28")),
    "truncated": b"\x0a\x05ab",
}


@pytest.mark.parametrize("raw", BAD_ATTRIBUTES.values(), ids=BAD_ATTRIBUTES.keys())
def test_invalid_attribute_is_decode_error_every_time(raw: bytes) -> None:
    body = _request_with_raw_attribute(raw)
    with pytest.raises(Exception):  # noqa: B017 - the full parse rejects it (upb's own error type)
        ExportTraceServiceRequest.FromString(body)
    for _ in range(2):  # never memoised: the second time fails just the same
        with pytest.raises(DecodeError):
            TRACES.convert(TRACES.decode(body, "application/x-protobuf"))
    assert raw not in MEMO


def test_valid_raw_attribute_control() -> None:
    """The helper itself builds valid requests: a well-formed attribute converts."""
    conv = TRACES.convert(parse_wire(_request_with_raw_attribute(_kv("k", string_value="ü").SerializeToString())))
    assert _rows(conv)[0]["SpanAttributes"] == [("k", "ü")]


def test_non_utf8_span_name_fails_the_parse() -> None:
    span = Span(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9))).SerializeToString() + _ld(5, b"\xff")
    with pytest.raises(DecodeError):
        parse_wire(_ld(1, _ld(2, _ld(2, span))))


def test_memo_is_bounded_and_exact() -> None:
    memo = AttrMemo(max_entries=3)
    lists = [[_kv(f"k{i % 5}", int_value=i).SerializeToString(), _kv("same", string_value="v").SerializeToString()]
             for i in range(20)]
    small, full = MapColumn(), MapColumn()
    add_maps(small, lists, memo)
    add_maps(full, lists, AttrMemo())
    assert len(memo) <= 3
    assert (small.keys, small.values, small.offsets) == (full.keys, full.values, full.offsets)
    assert small.values[:4] == ["0", "v", "1", "v"]


@pytest.mark.integration
def test_http_invalid_attribute_is_400(collector: Collector) -> None:
    for _ in range(2):
        r = httpx.post(collector.url + "/v1/traces", content=_request_with_raw_attribute(BAD_ATTRIBUTES["truncated"]),
                       headers=PB)
        assert r.status_code == 400
    ok = httpx.post(collector.url + "/v1/traces", content=make_request(8, seed=1).SerializeToString(), headers=PB)
    assert ok.status_code == 200
    assert collector.writer is not None and collector.writer.incoming_requests == 0
