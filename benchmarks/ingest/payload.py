"""Realistic OTLP trace payloads for the ingest benchmark (and the collector tests).

A "model server" trace: one Server span (POST /predict) with 2-10 children (cache, db, model
inference, downstream HTTP), ~6 attributes per span, one service per request, 512 spans per
request by default. Random ids, ns timestamps moving forward like a real clock.
"""

from __future__ import annotations

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_ROUTES = ["/predict", "/embed", "/classify", "/healthz"]
_CHILDREN = [
    ("cache.get", Span.SPAN_KIND_CLIENT, {"db.system": "redis", "db.operation": "GET", "cache.hit": True}),
    ("SELECT payments", Span.SPAN_KIND_CLIENT, {"db.system": "postgresql", "db.operation": "SELECT",
                                                "db.name": "payments"}),
    ("model.infer", Span.SPAN_KIND_INTERNAL, {"gen_ai.request.model": "fraud-xgb-v7", "batch.size": 8}),
    ("GET feature-store", Span.SPAN_KIND_CLIENT, {"http.request.method": "GET", "server.address": "features",
                                                  "http.response.status_code": 200}),
    ("preprocess", Span.SPAN_KIND_INTERNAL, {"input.bytes": 2048}),
]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def make_request(n_spans: int = 512, *, seed: int = 0, service: str = "fraud-model",
                 start_ns: int = 1_764_000_000_000_000_000) -> ExportTraceServiceRequest:
    rng = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", service), _kv("service.version", "1.4.2"),
                                   _kv("host.name", f"node-{seed % 7}"), _kv("process.pid", 4242)])
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.fastapi"
    ss.scope.version = "0.59b0"
    t = start_ns + seed * 1_000_000_000
    made = 0
    while made < n_spans:
        n_children = min(rng.randint(2, 10), n_spans - made - 1)
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        dur = rng.randint(2_000_000, 400_000_000)
        root = ss.spans.add(trace_id=trace_id, span_id=root_id, name="POST /predict",
                            kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=t, end_time_unix_nano=t + dur)
        route = rng.choice(_ROUTES)
        status = 500 if rng.random() < 0.01 else 200
        root.attributes.extend([_kv("http.request.method", "POST"), _kv("http.route", route),
                                _kv("url.scheme", "http"), _kv("http.response.status_code", status),
                                _kv("server.address", "127.0.0.1"), _kv("user_agent.original", "python-httpx/0.28")])
        if status == 500:
            root.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="internal error"))
        made += 1
        for _ in range(max(n_children, 0)):
            name, kind, attrs = rng.choice(_CHILDREN)
            cstart = t + rng.randint(0, dur // 2)
            child = ss.spans.add(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root_id,
                                 name=name, kind=kind, start_time_unix_nano=cstart,
                                 end_time_unix_nano=cstart + rng.randint(100_000, dur // 2))
            child.attributes.extend(_kv(k, v) for k, v in attrs.items())
            child.attributes.extend([_kv("thread.id", rng.randint(1, 16)), _kv("code.function", "handle")])
            made += 1
        t += rng.randint(100_000, 5_000_000)
    return req
