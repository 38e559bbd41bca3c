"""Raw OTLP/gRPC against a real collector: OK, partial success, auth, back-pressure, size limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from infersight.collectors import Collector
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from benchmarks.ingest.payload import make_request

from .conftest import count

pytestmark = pytest.mark.integration


@pytest.fixture
def stub_for() -> Iterator[object]:
    channels: list[grpc.Channel] = []

    def make(col: Collector) -> trace_service_pb2_grpc.TraceServiceStub:
        ch = grpc.insecure_channel(f"127.0.0.1:{col.grpc_port}")
        channels.append(ch)
        return trace_service_pb2_grpc.TraceServiceStub(ch)

    yield make
    for ch in channels:
        ch.close()


def test_export_ok_and_partial_success(collector: Collector, stub_for: object) -> None:
    stub = stub_for(collector)  # type: ignore[operator]
    req = make_request(30, seed=11)
    req.resource_spans[0].scope_spans[0].spans[3].span_id = b"\x00" * 8  # all-zero id: invalid
    resp = stub.Export(req, timeout=10)
    assert resp.partial_success.rejected_spans == 1
    assert count(collector) == 29


def test_unauthenticated(tmp_path: Path, stub_for: object) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, token="tok") as col:
        stub = stub_for(col)  # type: ignore[operator]
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(make_request(2), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.Export(make_request(2), timeout=10, metadata=(("authorization", "Bearer tok"),))
        assert count(col) == 2


def test_unavailable_with_retry_info_when_queue_full(tmp_path: Path, stub_for: object) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, max_queue_rows=50) as col:
        assert col.writer is not None
        stub = stub_for(col)  # type: ignore[operator]
        release = threading.Event()
        col.writer.call(lambda con: release.wait(30))
        done: list[object] = []
        t = threading.Thread(target=lambda: done.append(stub.Export(make_request(40, seed=1), timeout=30)))
        t.start()
        for _ in range(300):
            if col.writer.queued_rows:
                break
            threading.Event().wait(0.01)
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(make_request(40, seed=2), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(err.value.trailing_metadata() or ())["grpc-status-details-bin"]
        st = status_pb2.Status.FromString(details)
        info = error_details_pb2.RetryInfo()
        assert st.details[0].Unpack(info)
        assert info.retry_delay.seconds >= 1
        assert not done
        release.set()
        t.join(10)
        assert len(done) == 1 and count(col) == 40


def test_message_over_limit(tmp_path: Path, stub_for: object) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, max_body=2048) as col:
        stub = stub_for(col)  # type: ignore[operator]
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(make_request(64), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert count(col) == 0
