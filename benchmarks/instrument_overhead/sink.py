"""A minimal OTLP/HTTP sink: answers 200 to every export (the benchmark measures the client side).

A raw asyncio protocol rather than an ASGI app: the sink shares a core with the load generator,
and uvicorn's pure-Python HTTP parsing of a 200 kB span batch (~1 ms of CPU per export) would
stall wrk and show up as request latency of the exporting variants. This one counts the body
bytes as they arrive (~0.1 ms per batch). ``GET /count`` returns the counts. Usage:

    python sink.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

COUNTS = {"requests": 0, "bytes": 0}


class Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.head = b""
        self.remaining = -1  # body bytes still to come; -1: reading the head
        self.path = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        while data:
            if self.remaining < 0:
                self.head += data
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, data = self.head[:end], self.head[end + 4:]
                self.head = b""
                lines = head.split(b"\r\n")
                self.path = lines[0].split(b" ")[1] if b" " in lines[0] else b"/"
                self.remaining = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        self.remaining = int(value)
            take = min(len(data), self.remaining)
            COUNTS["bytes"] += take
            self.remaining -= take
            data = data[take:]
            if self.remaining == 0:
                self.remaining = -1
                COUNTS["requests"] += 1
                body = repr(COUNTS).encode() if self.path == b"/count" else b""
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n"
                                     b"content-length: %d\r\n\r\n%s" % (len(body), body))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
