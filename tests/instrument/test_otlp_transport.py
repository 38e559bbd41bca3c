"""The lean OTLP/HTTP transport (``_transport``): same requests on the wire, same retry semantics,
and the SDK's ``requests`` transport wherever something depends on it."""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from infersight.instrument import configure
from infersight.instrument.export._otlp import LeanOTLPSpanExporter
from infersight.instrument.export._transport import LeanHTTPTransport
from opentelemetry.exporter.http.transport._requests import RequestsHTTPTransport
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.conftest import free_port
from tests.instrument.conftest import OtlpReceiver, serve


def _transport(exporter: object) -> object:
    return exporter._client._transport  # type: ignore[attr-defined]


def test_configure_uses_the_lean_transport_for_spans_and_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    tel = configure("t", endpoint=f"http://127.0.0.1:{free_port()}", set_global=False)
    try:
        assert isinstance(_transport(tel.span_processor.exporter), LeanHTTPTransport)
        reader = tel.meter_provider._metric_readers[0]  # type: ignore[attr-defined]
        assert isinstance(_transport(reader._exporter.inner), LeanHTTPTransport)
    finally:
        tel.shutdown(timeout_s=0.5)


def test_proxies_and_sessions_keep_the_requests_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/traces"
    session = requests.Session()
    assert isinstance(_transport(LeanOTLPSpanExporter(endpoint=url, session=session)), RequestsHTTPTransport)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    assert isinstance(_transport(LeanOTLPSpanExporter(endpoint=url)), RequestsHTTPTransport)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert isinstance(_transport(LeanOTLPSpanExporter(endpoint=url)), LeanHTTPTransport)


def _span_batch(tel: object) -> None:
    tracer = tel.tracer_provider.get_tracer("t")  # type: ignore[attr-defined]
    for i in range(3):
        tracer.start_span(f"s{i}").end()
    assert tel.tracer_provider.force_flush(10_000)  # type: ignore[attr-defined]


def test_headers_and_gzip_from_otel_env_reach_the_collector(otlp_receiver: tuple[OtlpReceiver, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    receiver, url = otlp_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    tel = configure("t", endpoint=url, metric_reader=InMemoryMetricReader(), set_global=False)
    try:
        assert isinstance(_transport(tel.span_processor.exporter), LeanHTTPTransport)
        _span_batch(tel)
    finally:
        tel.shutdown(timeout_s=2.0)
    (sent,) = receiver.headers["/v1/traces"]
    assert sent["content-encoding"] == "gzip" and sent["x-tenant"] == "acme"
    assert sent["content-type"] == "application/x-protobuf"
    assert sent["user-agent"].startswith("OTel-OTLP-Exporter-Python")
    req = ExportTraceServiceRequest.FromString(gzip.decompress(receiver.bodies["/v1/traces"][0]))
    assert sorted(s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans) == \
        ["s0", "s1", "s2"]


class _RawCollector:
    """A raw-socket OTLP endpoint: answers each request with the next scripted status line/headers,
    then closes the connection (without saying so) when ``close_after`` is set."""

    def __init__(self, answers: list[bytes], close_after: bool) -> None:
        self.answers = answers
        self.close_after = close_after
        self.requests = 0
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(10)
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self.answers:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        break
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length")))
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.requests += 1
                    conn.sendall(self.answers.pop(0) + b"Content-Length: 0\r\n\r\n")
                    if self.close_after:
                        break

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def test_retry_after_and_stale_connections_follow_the_sdk_client() -> None:
    # 503 + Retry-After: retried after the given delay; then the server drops the kept-alive
    # connection: the next export retries once at once on a fresh connection.
    server = _RawCollector([b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n",
                            b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\n"], close_after=True)
    try:
        exporter = LeanOTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.port}/v1/traces", timeout=5)
        assert isinstance(_transport(exporter), LeanHTTPTransport)
        tel = configure("t", span_exporter=exporter, metric_reader=InMemoryMetricReader(), set_global=False)
        try:
            _span_batch(tel)
            assert server.requests == 2
            assert tel.span_processor.dropped == 0
            assert exporter.export([]) is SpanExportResult.SUCCESS  # the old connection is gone by now
        finally:
            tel.shutdown(timeout_s=1.0)
        assert server.requests == 3 and server.connections == 3
    finally:
        server.close()


def test_a_refused_batch_fails_and_is_counted() -> None:
    server = _RawCollector([b"HTTP/1.1 400 Bad Request\r\n"], close_after=False)
    try:
        exporter = LeanOTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.port}/v1/traces", timeout=5)
        tel = configure("t", span_exporter=exporter, metric_reader=InMemoryMetricReader(), set_global=False)
        try:
            _span_batch(tel)
            assert server.requests == 1, "400 is not retryable"
            assert tel.span_processor.dropped == 3
        finally:
            tel.shutdown(timeout_s=1.0)
    finally:
        server.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a test certificate")
def test_https_collector_is_verified_against_otel_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    receiver = OtlpReceiver()
    with serve(receiver, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://")
        # not trusted: the export fails (a TLS error is not retried for long) and is counted
        tel = configure("t", endpoint=url, metric_reader=InMemoryMetricReader(), export_timeout_s=2.0,
                        set_global=False)
        try:
            assert isinstance(_transport(tel.span_processor.exporter), LeanHTTPTransport)
            _span_batch(tel)
            assert tel.span_processor.dropped == 3 and not receiver.bodies
        finally:
            tel.shutdown(timeout_s=1.0)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(cert))
        tel = configure("t", endpoint=url, metric_reader=InMemoryMetricReader(), set_global=False)
        try:
            _span_batch(tel)
            assert tel.span_processor.dropped == 0
        finally:
            tel.shutdown(timeout_s=2.0)
    assert len(receiver.spans()) == 3
