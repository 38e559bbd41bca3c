"""The collector's own /metrics: every outcome of a real request moves its counter, names are the catalog's."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import grpc
import httpx
import pytest
from infersight.collectors import Collector
from infersight.instrument.metrics._collector_specs import METRICS
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.ingest.payload import make_request

from .conftest import PB, count


def scrape(col: Collector, **kw: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(col.url + "/metrics", **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_exposes_exactly_the_catalog_collector_specs(collector: Collector) -> None:
    samples = scrape(collector)
    families = {name for name, _ in samples}
    for spec in METRICS:
        assert set(spec.series_names()) & families or spec.name in families, spec.name
    declared = {n for spec in METRICS for n in spec.series_names()}
    assert families <= declared, sorted(families - declared)


def test_received_acknowledged_rejected_items_and_commit_latency(collector: Collector) -> None:
    before = scrape(collector)
    assert value(before, "infersight_collector_acknowledged_items_total", signal="traces") == 0
    for seed in range(3):
        assert httpx.post(collector.url + "/v1/traces", content=make_request(50, seed=seed).SerializeToString(),
                          headers=PB).status_code == 200
    req = make_request(10, seed=9)
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01" * 15  # one invalid span
    assert httpx.post(collector.url + "/v1/traces", content=req.SerializeToString(), headers=PB).status_code == 200
    after = scrape(collector)
    assert value(after, "infersight_collector_received_items_total", signal="traces") == 160
    assert value(after, "infersight_collector_acknowledged_items_total", signal="traces") == 159
    assert value(after, "infersight_collector_rejected_items_total", signal="traces") == 1
    assert count(collector) == 159
    assert value(after, "infersight_collector_commit_duration_seconds_count") >= 1
    assert value(after, "infersight_collector_commit_duration_seconds_sum") > 0
    assert value(after, "infersight_collector_db_size_bytes") > 0
    assert value(after, "infersight_collector_queue_rows") == 0
    assert value(after, "infersight_collector_inflight_bytes") == 0


def test_rejected_requests_by_reason(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, token="s3cret", max_body=4096) as col:
        auth = {"authorization": "Bearer s3cret"}
        body = make_request(4, seed=1).SerializeToString()
        assert httpx.post(col.url + "/v1/traces", content=body, headers=PB).status_code == 401
        assert httpx.post(col.url + "/v1/traces", content=b"\xff\xff garbage",
                          headers={**PB, **auth}).status_code == 400
        assert httpx.post(col.url + "/v1/metrics", content=b"{}",
                          headers={"content-type": "text/plain", **auth}).status_code == 415
        big = gzip.compress(make_request(200, seed=2).SerializeToString())
        assert httpx.post(col.url + "/v1/logs", content=big,
                          headers={**PB, **auth, "content-encoding": "gzip"}).status_code == 413
        assert httpx.get(col.url + "/metrics").status_code == 401  # same token rule as OTLP
        s = scrape(col, headers=auth)
        rej = "infersight_collector_rejected_requests_total"
        assert value(s, rej, signal="traces", reason="unauthorized") == 1
        assert value(s, rej, signal="traces", reason="bad_request") == 1
        assert value(s, rej, signal="metrics", reason="unsupported") == 1
        assert value(s, rej, signal="logs", reason="too_large") == 1
        assert value(s, rej, signal="traces", reason="overloaded") == 0


def test_overloaded_is_counted(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, max_queue_rows=100) as col:
        assert col.writer is not None
        release = threading.Event()
        col.writer.call(lambda con: release.wait(30))
        body = make_request(80, seed=8).SerializeToString()
        first = threading.Thread(target=lambda: httpx.post(col.url + "/v1/traces", content=body, headers=PB,
                                                           timeout=30))
        first.start()
        for _ in range(300):
            if col.writer.queued_rows:
                break
            threading.Event().wait(0.01)
        queued = value(scrape(col), "infersight_collector_queue_rows")
        assert httpx.post(col.url + "/v1/traces", content=body, headers=PB).status_code == 503
        release.set()
        first.join(10)
        s = scrape(col)
        assert queued == 80
        assert value(s, "infersight_collector_rejected_requests_total", signal="traces", reason="overloaded") == 1
        assert value(s, "infersight_collector_acknowledged_items_total", signal="traces") == 80


def test_grpc_exports_are_counted(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0) as col:
        provider = TracerProvider(resource=Resource.create({"service.name": "grpc-test"}))
        exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{col.grpc_port}", insecure=True)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        for i in range(7):
            with tracer.start_as_current_span(f"op{i}"):
                pass
        provider.shutdown()
        s = scrape(col)
        assert value(s, "infersight_collector_acknowledged_items_total", signal="traces") == 7
        assert count(col) == 7


def test_grpc_unauthenticated_is_counted(tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, token="s3cret") as col:
        with grpc.insecure_channel(f"127.0.0.1:{col.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(make_request(3, seed=1), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        s = scrape(col, headers={"authorization": "Bearer s3cret"})
        assert value(s, "infersight_collector_rejected_requests_total", signal="traces", reason="unauthorized") == 1


def test_retention_deletions_are_counted(tmp_path: Path) -> None:
    # spans from 2025 under a 1-day retention: the pass deletes all of them
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, retention_s=86_400,
                   retention_interval_s=3600) as col:
        assert httpx.post(col.url + "/v1/traces", content=make_request(40, seed=3).SerializeToString(),
                          headers=PB).status_code == 200
        assert col.retention is not None
        assert col.retention.run_once() == 40
        assert value(scrape(col), "infersight_collector_retention_deleted_rows_total") == 40
        assert count(col) == 0


def test_forbidden_host_is_counted(collector: Collector) -> None:
    # DNS rebinding guard (loopback bind): a foreign Host name is refused before anything else
    r = httpx.post(collector.url + "/v1/traces", content=b"", headers={**PB, "host": "attacker.example"})
    assert r.status_code == 403
    assert httpx.get(collector.url + "/ui", headers={"host": "attacker.example"}).status_code == 403
    assert httpx.get(collector.url + "/api/services", headers={"host": "attacker.example"}).status_code == 403
    s = scrape(collector)
    assert value(s, "infersight_collector_rejected_requests_total", signal="traces", reason="forbidden_host") == 1
