"""Raw OTLP/HTTP against a real collector: every status code of the spec, partial success, encodings."""

from __future__ import annotations

import gzip
import threading
import zlib
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from infersight.collectors import Collector
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from benchmarks.ingest.payload import make_request

from .conftest import JS, PB, count, otlp_json_bytes

pytestmark = pytest.mark.integration


def test_healthz_and_404(collector: Collector) -> None:
    assert httpx.get(collector.url + "/healthz").status_code == 200
    assert httpx.get(collector.url + "/nope").status_code == 404


def test_protobuf_200_rows_committed_before_ack(collector: Collector) -> None:
    body = make_request(64, seed=1).SerializeToString()
    r = httpx.post(collector.url + "/v1/traces", content=body, headers=PB)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-protobuf"
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert not resp.HasField("partial_success")
    assert count(collector) == 64  # visible right after the ack: committed before the response


def test_json_200_and_response_in_json(collector: Collector) -> None:
    r = httpx.post(collector.url + "/v1/traces", content=otlp_json_bytes(make_request(10, seed=2)), headers=JS)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {}
    assert count(collector) == 10


@pytest.mark.parametrize("ctype", ["application/x-protobuf", "application/json"])
def test_empty_request_is_200(collector: Collector, ctype: str) -> None:
    body = b"" if ctype.endswith("protobuf") else b"{}"
    r = httpx.post(collector.url + "/v1/traces", content=body, headers={"content-type": ctype})
    assert r.status_code == 200
    assert count(collector) == 0


@pytest.mark.parametrize("encoding,compress", [("gzip", gzip.compress), ("deflate", zlib.compress),
                                               ("deflate", lambda b: zlib.compress(b, wbits=-15))])
def test_compressed_bodies(collector: Collector, encoding: str, compress: object) -> None:
    body = compress(make_request(32, seed=3).SerializeToString())  # type: ignore[operator]
    r = httpx.post(collector.url + "/v1/traces", content=body, headers={**PB, "content-encoding": encoding})
    assert r.status_code == 200, r.content
    assert count(collector) == 32


def test_partial_success_for_bad_id_length_protobuf(collector: Collector) -> None:
    req = make_request(20, seed=4)
    spans = req.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x01" * 15
    spans[1].span_id = b""
    spans[2].parent_span_id = b"\x02" * 3
    r = httpx.post(collector.url + "/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 3
    assert "id length" in resp.partial_success.error_message
    assert count(collector) == 17


def test_partial_success_json_bad_hex(collector: Collector) -> None:
    req = make_request(5, seed=5)
    body = otlp_json_bytes(req).replace(req.resource_spans[0].scope_spans[0].spans[0].span_id.hex().encode(),
                                        b"zz", 1)
    r = httpx.post(collector.url + "/v1/traces", content=body, headers=JS)
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert count(collector) == 4


@pytest.mark.parametrize("ctype,body", [("application/x-protobuf", b"\xff\xff\xff garbage"),
                                        ("application/json", b"{not json"),
                                        ("application/json", b'{"resourceSpans": 7}')])
def test_undecodable_is_400_with_status(collector: Collector, ctype: str, body: bytes) -> None:
    r = httpx.post(collector.url + "/v1/traces", content=body, headers={"content-type": ctype})
    assert r.status_code == 400
    st = status_pb2.Status()
    if ctype == "application/json":
        assert r.json()["message"]
    else:
        st.ParseFromString(r.content)
        assert st.code == 3 and st.message
    assert count(collector) == 0


def test_bad_gzip_is_400(collector: Collector) -> None:
    r = httpx.post(collector.url + "/v1/traces", content=b"not gzip", headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 400


def test_unsupported_content_type_415(collector: Collector) -> None:
    r = httpx.post(collector.url + "/v1/traces", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(collector.url + "/v1/traces", content=b"x", headers={**PB, "content-encoding": "br"})
    assert r.status_code == 415


def test_wrong_method_405(collector: Collector) -> None:
    r = httpx.get(collector.url + "/v1/traces")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


def test_content_length_over_limit_413(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, max_body=4096) as col:
        body = make_request(64, seed=6).SerializeToString()
        assert len(body) > 4096
        r = httpx.post(col.url + "/v1/traces", content=body, headers=PB)
        assert r.status_code == 413
        assert count(col) == 0


def test_gzip_bomb_413_without_buffering(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, max_body=1 << 20) as col:
        bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB of zeros in ~64 KiB
        assert len(bomb) < (1 << 20)
        r = httpx.post(col.url + "/v1/traces", content=bomb, headers={**PB, "content-encoding": "gzip"}, timeout=60)
        assert r.status_code == 413
        assert col.app is not None
        for _ in range(500):  # the byte budget is released right after the response is sent
            if col.app.inflight_bytes == 0:
                break
            threading.Event().wait(0.01)
        assert col.app.inflight_bytes == 0


def test_token_401(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, token="s3cret") as col:
        body = make_request(4, seed=7).SerializeToString()
        assert httpx.post(col.url + "/v1/traces", content=body, headers=PB).status_code == 401
        bad = {**PB, "authorization": "Bearer wrong"}
        assert httpx.post(col.url + "/v1/traces", content=body, headers=bad).status_code == 401
        good = {**PB, "authorization": "Bearer s3cret"}
        assert httpx.post(col.url + "/v1/traces", content=body, headers=good).status_code == 200
        assert httpx.get(col.url + "/v1/live/otel_traces").status_code == 401
        assert httpx.get(col.url + "/healthz").status_code == 200


def test_overload_503_retry_after_never_500(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, max_queue_rows=100) as col:
        assert col.writer is not None
        release = threading.Event()
        col.writer.call(lambda con: release.wait(30))  # the writer is busy (like a long checkpoint)
        body = make_request(80, seed=8).SerializeToString()
        statuses: list[int] = []

        def send() -> None:
            statuses.append(httpx.post(col.url + "/v1/traces", content=body, headers=PB, timeout=30).status_code)

        first = threading.Thread(target=send)
        first.start()  # queued (80 rows) but not committed while the writer is blocked
        for _ in range(200):
            if col.writer.queued_rows:
                break
            threading.Event().wait(0.01)
        r = httpx.post(col.url + "/v1/traces", content=body, headers=PB)
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) >= 1
        assert not statuses  # the queued request has not been acknowledged yet
        release.set()
        first.join(10)
        assert statuses == [200]
        assert count(col) == 80


def test_metrics_and_logs_endpoints(collector: Collector) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    m = ExportMetricsServiceRequest()
    rm = m.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "svc"
    met = rm.scope_metrics.add().metrics.add(name="http.server.request.duration", unit="s")
    dp = met.histogram.data_points.add(time_unix_nano=10**18, count=3, sum=0.6)
    dp.explicit_bounds.extend([0.1, 0.5])
    dp.bucket_counts.extend([1, 1, 1])
    bad = met.histogram.data_points.add(time_unix_nano=10**18, count=1)
    bad.explicit_bounds.extend([0.1])
    bad.bucket_counts.extend([1, 0, 0])
    r = httpx.post(collector.url + "/v1/metrics", content=m.SerializeToString(), headers=PB)
    assert r.status_code == 200
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
    assert ExportMetricsServiceResponse.FromString(r.content).partial_success.rejected_data_points == 1
    assert count(collector, "otel_metrics_histogram") == 1

    lg = ExportLogsServiceRequest()
    rec = lg.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=10**18, severity_text="WARN")
    rec.body.string_value = "pool timeout"
    r = httpx.post(collector.url + "/v1/logs", content=otlp_json_bytes(lg), headers=JS)
    assert r.status_code == 200
    assert count(collector, "otel_logs") == 1


def test_request_type_mismatch_is_not_500(collector: Collector) -> None:
    # a traces body posted to /v1/logs decodes as (mostly) unknown fields: 200 or 400, never 500
    r = httpx.post(collector.url + "/v1/logs", content=make_request(4).SerializeToString(), headers=PB)
    assert r.status_code in (200, 400)
    assert ExportTraceServiceRequest  # imported for the type of payload used above


def test_decode_worker_processes(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, decode_workers=1) as col:
        req = make_request(512, seed=9)
        req.resource_spans[0].scope_spans[0].spans[5].trace_id = b"\x01"
        body = req.SerializeToString()
        assert len(body) > 16 * 1024  # large enough to go to the worker process
        r = httpx.post(col.url + "/v1/traces", content=body, headers=PB)
        assert r.status_code == 200
        assert ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans == 1
        assert count(col) == 511
        r = httpx.post(col.url + "/v1/traces", content=b"\xff" * 40_000, headers=PB)
        assert r.status_code == 400
        r = httpx.post(col.url + "/v1/traces", content=otlp_json_bytes(make_request(200, seed=10)), headers=JS)
        assert r.status_code == 200 and count(col) == 711
