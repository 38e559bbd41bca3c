"""Requests an attacker (or a broken client) sends: multi-member and padded gzip, trailing bytes,
Host headers of another site (DNS rebinding), bad live-read parameters, undecodable or
unauthenticated gRPC, half-open connections. Each gets a clear status and nothing is
acknowledged that was not stored."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from infersight.collectors import Collector
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from benchmarks.ingest.payload import make_request

from .conftest import PB, count

pytestmark = pytest.mark.integration
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def col(tmp_path: Path) -> Iterator[Collector]:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, retention_interval_s=3600) as c:
        yield c


def _post(c: Collector, body: bytes, encoding: str) -> httpx.Response:
    return httpx.post(c.url + "/v1/traces", content=body, headers={**PB, "content-encoding": encoding}, timeout=60)


# -- gzip / deflate framing ----------------------------------------------------------------------

def test_every_gzip_member_is_stored(col: Collector) -> None:
    a = make_request(5, seed=1).SerializeToString()
    b = make_request(7, seed=2).SerializeToString()
    # two members = the concatenation of both messages (protobuf merges repeated fields)
    r = _post(col, gzip.compress(a) + gzip.compress(b), "gzip")
    assert r.status_code == 200, r.content
    assert count(col) == 12, "the second gzip member was acknowledged but not stored"


def test_zero_padding_after_a_gzip_member_is_accepted(col: Collector) -> None:
    body = make_request(3, seed=3).SerializeToString()
    assert _post(col, gzip.compress(body) + b"\0" * 64, "gzip").status_code == 200
    assert count(col) == 3


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15))])
def test_trailing_garbage_after_the_stream_is_400(col: Collector, encoding: str, compress: object) -> None:
    body = make_request(4, seed=4).SerializeToString()
    r = _post(col, compress(body) + b"GARBAGE!", encoding)  # type: ignore[operator]
    assert r.status_code == 400, r.content
    assert b"trailing" in r.content
    assert count(col) == 0


def test_empty_gzip_body_is_400(col: Collector) -> None:
    assert _post(col, b"", "gzip").status_code == 400


# -- Host header (DNS rebinding) -----------------------------------------------------------------

def test_foreign_host_header_is_refused_on_loopback(col: Collector) -> None:
    url = col.url + "/v1/live/otel_traces"
    r = httpx.get(url, headers={"host": f"attacker.example:{col.http_port}"})
    assert r.status_code == 403 and b"--allow-host" in r.content
    body = make_request(2, seed=5).SerializeToString()
    r = httpx.post(col.url + "/v1/traces", content=body, headers={**PB, "host": "rebind.attacker.example"})
    assert r.status_code == 403
    assert count(col) == 0
    for ok in (f"localhost:{col.http_port}", f"127.0.0.1:{col.http_port}", "127.0.0.1", "[::1]:1", "LOCALHOST."):
        assert httpx.get(url, headers={"host": ok}).status_code == 200, ok


def test_allow_host_adds_names_and_star_turns_the_check_off(tmp_path: Path) -> None:
    with Collector(tmp_path / "a.duckdb", http_port=0, grpc_port=None, allow_hosts=["collector"]) as c:
        assert httpx.get(c.url + "/healthz", headers={"host": "collector:4318"}).status_code == 200
        assert httpx.get(c.url + "/healthz", headers={"host": "other"}).status_code == 403
    with Collector(tmp_path / "b.duckdb", http_port=0, grpc_port=None, allow_hosts=["*"]) as c:
        assert httpx.get(c.url + "/healthz", headers={"host": "anything.example"}).status_code == 200


# -- live reads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("since", ["--5", "-5", "1e9", "99999999999999999999", str(1 << 63), "abc", " 5"])
def test_bad_since_is_a_one_line_400(col: Collector, since: str) -> None:
    r = httpx.get(col.url + "/v1/live/otel_traces", params={"since": since})
    assert r.status_code == 400, (since, r.status_code, r.text)
    assert r.text.count("\n") == 1 and "Traceback" not in r.text


def test_live_index_tells_the_newest_span(col: Collector) -> None:
    assert httpx.get(col.url + "/v1/live/").json()["newest_ns"] is None
    req = make_request(3, seed=6)
    assert httpx.post(col.url + "/v1/traces", content=req.SerializeToString(), headers=PB).status_code == 200
    newest = max(s.start_time_unix_nano for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans)
    got = httpx.get(col.url + "/v1/live/").json()["newest_ns"]
    assert abs(got - newest) < 1000  # stored at microsecond precision


# -- gRPC ------------------------------------------------------------------------------------------

def test_undecodable_grpc_is_invalid_argument(col: Collector) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{col.grpc_port}") as ch:
        raw = ch.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\xff\xff\xff\xff not protobuf", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert count(col) == 0


def test_grpc_authenticates_before_parsing(tmp_path: Path) -> None:
    """An unauthenticated caller gets UNAUTHENTICATED even for bytes that do not parse: the
    token is checked before anything is decoded (grpcio used to parse first)."""
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, token="tok") as c:
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as ch:
            raw = ch.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as err:
                raw(b"\xff\xff\xff\xff not protobuf", timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub = trace_service_pb2_grpc.TraceServiceStub(ch)
            resp = stub.Export(make_request(2, seed=7), timeout=10, metadata=(("authorization", "Bearer tok"),))
            assert isinstance(resp, trace_service_pb2.ExportTraceServiceResponse)
        assert count(c) == 2


def test_default_grpc_message_limit_is_small(col: Collector) -> None:
    big = make_request(40_000, seed=8)
    assert big.ByteSize() > 4 << 20
    with grpc.insecure_channel(f"127.0.0.1:{col.grpc_port}") as ch:
        with pytest.raises(grpc.RpcError) as err:
            trace_service_pb2_grpc.TraceServiceStub(ch).Export(big, timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


# -- connections ---------------------------------------------------------------------------------

def test_half_open_connections_are_capped_and_timed_out(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, max_connections=8,
                   header_timeout_s=1.0) as c:
        idle = [socket.create_connection(("127.0.0.1", c.http_port), timeout=30) for _ in range(8)]
        try:
            idle[0].sendall(b"POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1\r\n")  # headers never finished
            extra = socket.create_connection(("127.0.0.1", c.http_port), timeout=30)
            reply = extra.recv(4096)
            extra.close()
            assert reply.startswith(b"HTTP/1.1 503") and b"retry-after" in reply.lower(), reply
            # the half-open ones are closed by the header timeout (recv returns b"" = closed)
            assert all(s.recv(4096) == b"" for s in idle)
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # room again: a normal request succeeds
            try:
                if httpx.get(c.url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert httpx.get(c.url + "/healthz", timeout=5).status_code == 200


def test_a_stalled_body_gets_408(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, body_timeout_s=1.0) as c:
        s = socket.create_connection(("127.0.0.1", c.http_port), timeout=30)
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-protobuf\r\n"
                  b"content-length: 1000\r\n\r\nabc")
        reply = s.recv(4096)
        s.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert c.app is not None
        for _ in range(500):  # released right after the response went out
            if c.app.inflight_bytes == 0:
                break
            time.sleep(0.01)
        assert c.app.inflight_bytes == 0
