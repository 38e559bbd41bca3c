"""N concurrent slow uploads (chunked, gzip) held open at once: the collector's memory for
request bodies must stay inside its in-flight byte budget however many connections send.

Each connection sends a gzip body that inflates to ``body_bytes`` (a valid OTLP trace request
whose one unknown field holds zeros: a few KiB on the wire) as HTTP/1.1 chunks, without
Content-Length, then holds back the gzip trailer (its last 8 bytes: every byte of the content
has been sent) until every connection has been read: the moment when a collector that buffers
bodies before counting them holds all N at once.

Used by tests/reliability/test_concurrent_uploads.py and benchmarks/reliability/run.py uploads.
"""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infersight.collectors import Collector

CHUNK = 4096
SLACK = 64 << 10  # output zlib may still hold back before the trailer arrives


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def inflating_body(body_bytes: int) -> bytes:
    """gzip of an ExportTraceServiceRequest of ``body_bytes``: field 15 (unknown, skipped) of zeros."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    size = body_bytes - 1 - len(varint(body_bytes))
    raw = bytes([15 << 3 | 2]) + varint(size) + b"\0" * size
    assert len(raw) == body_bytes
    return gzip.compress(raw, compresslevel=9)


class _Upload(threading.Thread):
    def __init__(self, port: int, body: bytes, release: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.body, self.release = port, body, release
        self.sent_all_but_last = threading.Event()
        self.status = 0
        self.retry_after = ""
        self.error = ""

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=120) as s:
                s.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                          b"content-type: application/x-protobuf\r\ncontent-encoding: gzip\r\n"
                          b"transfer-encoding: chunked\r\n\r\n")
                content, trailer = self.body[:-8], self.body[-8:]
                for i in range(0, len(content), CHUNK):
                    c = content[i:i + CHUNK]
                    s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
                self.sent_all_but_last.set()
                s.settimeout(0.05)
                reply = b""
                while not self.release.is_set() and not reply:  # a 503 may come before the end
                    try:
                        reply = s.recv(65536)
                    except TimeoutError:
                        continue
                if not reply:
                    s.settimeout(120)
                    try:
                        s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(trailer), trailer))
                    except OSError:
                        pass  # the collector answered and closed while we held the last chunk
                    while b"\r\n\r\n" not in reply:
                        part = s.recv(65536)
                        if not part:
                            break
                        reply += part
                head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                self.status = int(head[0].split()[1])
                for line in head[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "retry-after":
                        self.retry_after = v.strip()
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            self.error = f"{type(exc).__name__}: {exc}"


@dataclass
class UploadReport:
    connections: int
    body_bytes: int
    wire_bytes_per_upload: int
    budget_bytes: int
    statuses: dict[str, int] = field(default_factory=dict)
    retry_after_missing: int = 0
    errors: list[str] = field(default_factory=list)
    held_when_all_read: int = 0  # bytes the budget counted once every connection was read
    expected_held: int = 0  # bytes the admitted uploads really hold at that moment
    peak_accounted: int = 0
    refused_by_budget: int = 0
    rss_before: int = 0
    rss_all_read: int = 0
    rss_growth: int = 0
    settle_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_uploads(workdir: Path, connections: int, *, body_bytes: int, budget_bytes: int,
                max_body: int | None = None, settle_timeout_s: float = 120.0) -> UploadReport:
    """An in-process collector (budget ``budget_bytes``), ``connections`` held uploads, one report."""
    body = inflating_body(body_bytes)
    report = UploadReport(connections, body_bytes, len(body), budget_bytes)
    col = Collector(workdir / f"uploads{connections}.duckdb", http_port=0, grpc_port=None,
                    max_body=max_body or body_bytes, max_inflight_bytes=budget_bytes, retention_interval_s=3600)
    col.start()
    try:
        assert col.app is not None
        budget = col.app.budget
        report.rss_before = rss_bytes()
        release = threading.Event()
        ups = [_Upload(col.http_port, body, release) for _ in range(connections)]
        t0 = time.monotonic()
        for u in ups:
            u.start()
        # Wait until every connection was read to its last held chunk or refused: then the budget
        # must count exactly the admitted bodies (a collector that buffers before counting shows 0).
        deadline = time.monotonic() + settle_timeout_s
        while time.monotonic() < deadline:
            refused = sum(1 for u in ups if u.status or u.error)
            admitted_bytes = (connections - refused) * (body_bytes - SLACK)
            if all(u.sent_all_but_last.is_set() or u.error for u in ups) and budget.used >= admitted_bytes:
                break
            time.sleep(0.02)
        report.settle_s = round(time.monotonic() - t0, 2)
        refused = sum(1 for u in ups if u.status or u.error)
        report.expected_held = (connections - refused) * body_bytes
        report.held_when_all_read = budget.used
        report.rss_all_read = rss_bytes()
        release.set()
        for u in ups:
            u.join(180)
        report.peak_accounted = budget.peak
        report.refused_by_budget = budget.refused
        for u in ups:
            if u.error:
                report.errors.append(u.error)
            report.statuses[str(u.status)] = report.statuses.get(str(u.status), 0) + 1
            if u.status == 503 and not u.retry_after:
                report.retry_after_missing += 1
        report.rss_growth = report.rss_all_read - report.rss_before
    finally:
        col.stop()
    return report
