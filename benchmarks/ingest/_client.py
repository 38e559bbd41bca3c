"""One load-generating client process: POSTs pre-built OTLP/HTTP protobuf bodies over keep-alive."""

from __future__ import annotations

import http.client
import time
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.ingest.payload import make_request


def build_pool(client_id: int, n_bodies: int, spans: int) -> list[bytes]:
    """Unique, realistic bodies (distinct seeds per client: no span id repeats inside the pool)."""
    return [make_request(spans, seed=client_id * 100_000 + i,
                         start_ns=1_764_000_000_000_000_000 + (client_id * 100_000 + i) * 10**9).SerializeToString()
            for i in range(n_bodies)]


def client_main(conn: Connection, client_id: int, port: int, n_bodies: int, spans: int) -> None:
    pool = build_pool(client_id, n_bodies, spans)
    conn.send(("ready", len(pool)))
    cmd: dict[str, Any] = conn.recv()
    deadline = time.monotonic() + cmd["duration"]
    max_requests = cmd.get("max_requests") or 1 << 62
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/x-protobuf"}
    lat: list[float] = []
    statuses: dict[int, int] = {}
    acked = 0
    i = 0
    while time.monotonic() < deadline and i < max_requests:
        body = pool[i % len(pool)]
        t0 = time.perf_counter()
        try:
            c.request("POST", cmd.get("path", "/v1/traces"), body=body, headers=headers)
            resp = c.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = -1
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        lat.append(time.perf_counter() - t0)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            acked += spans
        elif status in (429, 503):
            time.sleep(0.05)
        i += 1
    c.close()
    conn.send({"latencies": lat, "statuses": statuses, "acked_spans": acked, "requests": i})
