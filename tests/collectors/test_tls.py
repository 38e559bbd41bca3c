"""Optional TLS: HTTPS and gRPC+TLS with a self-signed certificate (made by the openssl CLI)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from infersight.collectors import Collector, CollectorConfigError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from benchmarks.ingest.payload import make_request

from .conftest import PB, count

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")]


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    crt, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def test_https_and_grpc_tls(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    crt, key = cert
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, tls_cert=str(crt), tls_key=str(key)) as col:
        assert col.url.startswith("https://")
        r = httpx.post(col.url + "/v1/traces", content=make_request(8).SerializeToString(), headers=PB,
                       verify=ssl.create_default_context(cafile=str(crt)))
        assert r.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            httpx.post(col.url.replace("https", "http") + "/v1/traces", content=b"", headers=PB)
        creds = grpc.ssl_channel_credentials(root_certificates=crt.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{col.grpc_port}", creds) as ch:
            trace_service_pb2_grpc.TraceServiceStub(ch).Export(make_request(4, seed=2), timeout=10)
        assert count(col) == 12


def test_bad_certificate_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(CollectorConfigError, match="HTTP server did not start"):
        Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, tls_cert=str(bad), tls_key=str(bad)).start()
    with pytest.raises(CollectorConfigError):
        Collector(tmp_path / "t.duckdb", tls_cert=str(bad))
