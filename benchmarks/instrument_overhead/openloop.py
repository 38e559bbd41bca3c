"""Open-loop load at a fixed request rate (wrk2 is not packaged in Debian): latency without queueing.

wrk keeps N requests in flight and measures at saturation, so its p99 is mostly queueing behind
the server's own CPU per request. Here requests are sent on a fixed schedule (``rate`` per
second, whatever the server does) over as many keep-alive connections as needed, so a stall of
the server shows up as the latency of the requests that arrived during it, and a slower server
is not rewarded with fewer requests. The schedule is kept at the event loop's timer resolution
(~1 ms), so requests leave in small bursts; latency is measured from the moment a request is
written, or from its scheduled time when it had to wait for a connection (all busy: no
coordinated omission). Usage (run.py runs it as a separate process):

    python openloop.py HOST PORT PATH RATE SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from array import array
from typing import Any

MAX_CONNECTIONS = 256


class _Conn(asyncio.Protocol):
    def __init__(self, done: Any) -> None:
        self.transport: Any = None
        self.done = done
        self.buf = b""
        self.scheduled = 0.0
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        status = self.buf[9:12]
        self.buf = self.buf[end + 4 + length:]
        self.done(self, time.perf_counter() - self.scheduled, status == b"200")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def run(host: str, port: int, path: str, rate: float, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: openloop\r\n\r\n".encode()
    latencies = array("d")
    errors = [0]
    idle: list[_Conn] = []
    backlog: list[float] = []  # scheduled times waiting for a connection (all MAX_CONNECTIONS busy)
    conns: list[_Conn] = []

    def done(conn: _Conn, latency: float, ok: bool) -> None:
        latencies.append(latency)
        if not ok:
            errors[0] += 1
        if backlog:
            conn.scheduled = backlog.pop(0)
            conn.transport.write(request)
        else:
            idle.append(conn)

    async def connect() -> _Conn:
        _, conn = await loop.create_connection(lambda: _Conn(done), host, port)
        await conn.ready
        conns.append(conn)
        return conn

    for _ in range(8):
        idle.append(await connect())
    total = int(rate * seconds)
    t0 = time.perf_counter() + 0.05
    i = 0
    while i < total:
        now = time.perf_counter()
        due = t0 + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and t0 + i / rate <= now:
            scheduled = t0 + i / rate
            i += 1
            while idle and idle[-1].transport is None:  # the server closed it while idle (keep-alive timeout)
                conns.remove(idle.pop())
            if idle:
                conn = idle.pop()
            elif len(conns) < MAX_CONNECTIONS:
                conn = await connect()
            else:
                backlog.append(scheduled)
                continue
            conn.scheduled = time.perf_counter()
            conn.transport.write(request)
    deadline = time.perf_counter() + 10
    while len(latencies) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    lat = sorted(latencies)
    n = len(lat)

    def pct(p: float) -> float:
        return lat[min(n - 1, int(n * p))] * 1e3 if n else float("nan")

    return {"rate": rate, "sent": total, "completed": n, "errors": errors[0], "connections": len(conns),
            "achieved_rps": n / elapsed if elapsed > 0 else 0.0,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
            "max_ms": lat[-1] * 1e3 if n else float("nan")}


if __name__ == "__main__":
    host, port, path, rate, seconds = sys.argv[1:6]
    print(json.dumps(asyncio.run(run(host, int(port), path, float(rate), float(seconds)))))
