"""Span conversion: sliced conversion of huge requests gives the same rows as one pass."""

from __future__ import annotations

import pytest
from infersight.collectors import _traces
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks.ingest.payload import make_request


def test_slices_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    req = make_request(3000, seed=3)
    more = make_request(500, seed=4, service="other")
    req.MergeFrom(more)  # a second resource: slices cross resource boundaries
    req.resource_spans[0].scope_spans[0].spans[2500].span_id = b"1"
    whole = _traces.convert_traces(req)
    monkeypatch.setattr(_traces, "CHUNK_SPANS", 700)
    sliced = _traces.convert_traces(req)
    assert (whole.accepted, whole.rejected) == (sliced.accepted, sliced.rejected) == (3499, 1)
    assert whole.tables["otel_traces"].to_pylist() == sliced.tables["otel_traces"].to_pylist()
    services = sliced.tables["otel_traces"].column("ServiceName").to_pylist()
    assert services.count("other") == 500


def test_empty_scopes_and_resources() -> None:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add()
    req.resource_spans.add()
    conv = _traces.convert_traces(req)
    assert (conv.accepted, conv.rejected, conv.tables) == (0, 0, {})
