"""Load and capture for h100_issue20.py: an OTLP/HTTP receiver that writes what it gets to files
(the file exporter's framing, so ``infersight import`` reads them back on another machine), and an
open-/closed-loop HTTP load generator that records client-side truth (CSV + one CLIENT span per
request, started at the scheduled send time, traceparent injected). Stdlib + the OTel SDK only:
the device machine has no duckdb and no httpx.
"""

from __future__ import annotations

import csv
import gzip
import http.client
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_FILES = {"/v1/traces": "traces.otlp.pb", "/v1/metrics": "metrics.otlp.pb", "/v1/logs": "logs.otlp.pb"}


class OtlpFileReceiver:
    """OTLP/HTTP protobuf on 127.0.0.1:<free port>; every body appended to ``dir/<signal>.otlp.pb``
    as a 4-byte big-endian length + the ExportRequest bytes. Answers 200 with an empty response."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                enc = (self.headers.get("content-encoding") or "").lower()
                if enc == "gzip":
                    body = gzip.decompress(body)
                elif enc == "deflate":
                    body = zlib.decompress(body)
                receiver.write(self.path, body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def write(self, path: str, body: bytes) -> None:
        name = _FILES.get(path)
        if name is None:
            return
        with self._lock, (self.out / name).open("ab") as f:
            f.write(struct.pack(">I", len(body)) + body)
            self.counts[name] = self.counts.get(name, 0) + 1

    def __enter__(self) -> OtlpFileReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_frames(path: Path) -> list[bytes]:
    data = path.read_bytes() if path.exists() else b""
    out, pos = [], 0
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


@dataclass
class Sample:
    label: str
    scheduled_ns: int
    sent_ns: int
    end_ns: int
    status: int
    error: str

    @property
    def latency_ms(self) -> float:
        return (self.end_ns - self.scheduled_ns) / 1e6


class Load:
    """POST ``path`` to ``base``: open loop at ``rate`` req/s (latency from the scheduled send
    time) or closed loop with ``clients`` workers. Every request is a CLIENT span."""

    def __init__(self, base: str, otlp: str, *, path: str = "/infer", workload: str = "issue20",
                 timeout_s: float = 30.0, max_inflight: int = 256) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.path = host, int(port), path
        self.timeout_s = timeout_s
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self.max_inflight = max_inflight
        self.provider = TracerProvider(resource=Resource.create(
            {"service.name": f"{workload}-load", "infersight.role": "load"}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces")))
        self.tracer = self.provider.get_tracer("infersight.bench.load")

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return conn

    def one(self, label: str, scheduled_ns: int, query: str) -> None:
        from opentelemetry import trace
        from opentelemetry.propagate import inject
        from opentelemetry.trace import SpanKind, Status, StatusCode

        span = self.tracer.start_span(f"POST {self.path}", kind=SpanKind.CLIENT, start_time=scheduled_ns,
                                      attributes={"http.request.method": "POST", "http.route": self.path,
                                                  "server.address": self.host, "server.port": self.port,
                                                  "infersight.load.scheduled": True})
        headers: dict[str, str] = {"content-length": "0"}
        inject(headers, context=trace.set_span_in_context(span))
        sent = time.time_ns()
        span.set_attribute("infersight.load.send_lag_ms", (sent - scheduled_ns) / 1e6)
        status, error = 0, ""
        try:
            conn = self._conn()
            conn.request("POST", f"{self.path}?{query}", headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            if status >= 500:
                error = str(status)
        except Exception as exc:  # timeout, reset: recorded, the load goes on
            error = type(exc).__name__
            self._local.conn = None
        end = time.time_ns()
        if status:
            span.set_attribute("http.response.status_code", status)
        if error:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)
        with self._lock:
            self.samples.append(Sample(label, scheduled_ns, sent, end, status, error))

    def open_loop(self, rate: float, seconds: float, label: Any, query: Any) -> None:
        """``label(i, t_rel)`` / ``query(i, t_rel)`` shape each request; sends never wait for answers."""
        n = int(rate * seconds)
        t0 = time.time_ns()
        with ThreadPoolExecutor(self.max_inflight) as pool:
            for i in range(n):
                at = t0 + int(i * 1e9 / rate)
                delay = (at - time.time_ns()) / 1e9
                if delay > 0:
                    time.sleep(delay)
                t_rel = (at - t0) / 1e9
                pool.submit(self.one, label(i, t_rel), at, query(i, t_rel))

    def closed_loop(self, clients: int, seconds: float, label: Any, query: Any) -> None:
        stop = time.monotonic() + seconds
        t0 = time.time_ns()

        def worker(k: int) -> None:
            i = k
            while time.monotonic() < stop:
                now = time.time_ns()
                t_rel = (now - t0) / 1e9
                self.one(label(i, t_rel), now, query(i, t_rel))
                i += clients

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "scheduled_ns", "sent_ns", "end_ns", "status", "error", "latency_ms"])
            for s in sorted(self.samples, key=lambda s: s.scheduled_ns):
                w.writerow([s.label, s.scheduled_ns, s.sent_ns, s.end_ns, s.status, s.error,
                            f"{s.latency_ms:.3f}"])

    def close(self) -> None:
        self.provider.shutdown()


__all__ = ["Load", "OtlpFileReceiver", "Sample", "read_frames"]
