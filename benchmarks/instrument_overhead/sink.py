"""A minimal OTLP/HTTP sink: answers 200 to every export (the benchmark measures the client side)."""

from __future__ import annotations

from typing import Any

COUNTS = {"requests": 0, "bytes": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        COUNTS["bytes"] += len(message.get("body", b""))
        more = message.get("more_body", False)
    COUNTS["requests"] += 1
    body = b"" if scope["path"] != "/count" else repr(COUNTS).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/x-protobuf"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
