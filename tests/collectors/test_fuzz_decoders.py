"""Hypothesis fuzzing of the decoders and converters: never a crash other than DecodeError, and
protobuf and OTLP/JSON of the same message always give the same rows.

Short budget here (CI); for long runs: ``HYPOTHESIS_PROFILE=long pytest tests/collectors/test_fuzz_decoders.py``
(or set ``INFERSIGHT_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from infersight.collectors import DecodeError
from infersight.collectors._signals import SIGNALS
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from .conftest import otlp_json

settings.register_profile("ci", max_examples=int(os.environ.get("INFERSIGHT_FUZZ_EXAMPLES", "60")),
                          deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_text = st.text(max_size=12)
_scalar = st.one_of(
    _text.map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=False).map(lambda f: AnyValue(double_value=f)),
    st.binary(max_size=8).map(lambda b: AnyValue(bytes_value=b)),
)


def _array(vals: list[AnyValue]) -> AnyValue:
    v = AnyValue()
    v.array_value.values.extend(vals)
    return v


_value = st.one_of(_scalar, st.lists(_scalar, max_size=3).map(_array))
_attrs = st.lists(st.tuples(_text, _value), max_size=5).map(
    lambda kvs: [KeyValue(key=k, value=v) for k, v in kvs])


@st.composite
def trace_requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(draw(_attrs))
        ss = rs.scope_spans.add()
        ss.scope.name = draw(_text)
        for _ in range(draw(st.integers(0, 4))):
            sp = ss.spans.add(
                trace_id=draw(st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))),
                span_id=draw(st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))),
                parent_span_id=draw(st.one_of(st.just(b""), st.binary(max_size=9))),
                name=draw(_text), kind=draw(st.integers(0, 7)),
                start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                end_time_unix_nano=draw(st.integers(0, 2**64 - 1)))
            sp.attributes.extend(draw(_attrs))
            sp.status.code = draw(st.integers(0, 3))
            for _ in range(draw(st.integers(0, 2))):
                ev = sp.events.add(name=draw(_text), time_unix_nano=draw(st.integers(0, 2**63 - 1)))
                ev.attributes.extend(draw(_attrs))
    return req


@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    for sig in SIGNALS.values():
        for ctype in ("application/x-protobuf", "application/json"):
            try:  # traces parse attributes lazily (_wire.py): convert may be what finds them invalid
                sig.convert(sig.decode(data, ctype))
            except DecodeError:
                continue


@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                    lambda kids: st.one_of(st.lists(kids, max_size=3),
                                           st.dictionaries(st.sampled_from(
                                               ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId",
                                                "attributes", "key", "value", "name", "kind", "x"]),
                                               kids, max_size=4)), max_leaves=20))
def test_random_json_never_crash(doc: object) -> None:
    try:
        SIGNALS["traces"].convert(SIGNALS["traces"].decode(json.dumps(doc).encode(), "application/json"))
    except DecodeError:
        return


@given(trace_requests())
def test_protobuf_and_json_agree(req: ExportTraceServiceRequest) -> None:
    sig = SIGNALS["traces"]
    a = sig.convert(sig.decode(req.SerializeToString(), "application/x-protobuf"))
    b = sig.convert(sig.decode(json.dumps(otlp_json(req)).encode(), "application/json"))
    assert (a.accepted, a.rejected) == (b.accepted, b.rejected)
    n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    assert a.accepted + a.rejected == n
    if a.accepted:
        assert a.tables["otel_traces"].to_pylist() == b.tables["otel_traces"].to_pylist()
