"""OTLP/HTTP receiver as a raw ASGI app (served by uvicorn): /v1/traces, /v1/metrics, /v1/logs.

Status codes follow the OTLP/HTTP spec: 200 (+ partial_success), 400 with a google.rpc.Status
body for undecodable payloads, 401 without the bearer token, 405 for other methods, 413 past
the body limit (checked while reading, after decompression), 415 for other content types or
encodings, 503 + Retry-After when the write queue or the in-flight byte budget is full.
Payloads are never logged. Also serves GET /healthz, GET /metrics (the collector's own metrics,
_selfmetrics.py), the live-read endpoint (_live.py) and read-only apps mounted under a path
prefix (the Jaeger query API at /api, the web UI at /ui); those need the same bearer token,
or, for a browser, the cookie that ``/ui/login`` sets (_login.py), and pass the same Host check.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, MutableMapping, Sequence
from typing import Any

from google.rpc import code_pb2, status_pb2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ._body import ENCODINGS, read_body
from ._budget import InflightBudget
from ._errors import DecodeError, OverloadedError, PayloadTooLargeError, StorageError
from ._hosts import host_allowed
from ._login import cookie_token, login
from ._otlp_json import to_json
from ._pool import DecodePool
from ._selfmetrics import CollectorMetrics
from ._signals import JSON, PROTOBUF, SIGNALS, Signal
from ._writer import Writer

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_PATHS = {f"/v1/{name}": sig for name, sig in SIGNALS.items()}
_OFFLOAD_BYTES = 256 * 1024  # decode bigger bodies in a worker thread, off the event loop
_POOL_BYTES = 16 * 1024  # with decode workers, bodies above this go to a worker process


class OTLPHttpApp:
    def __init__(self, writer: Writer, *, token: str | None = None, max_body: int = 64 << 20,
                 max_inflight_bytes: int = 256 << 20,
                 live: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
                 pool: DecodePool | None = None, budget: InflightBudget | None = None,
                 allowed_hosts: Collection[str] | None = None, body_timeout_s: float = 30.0,
                 metrics: CollectorMetrics | None = None, routes: Sequence[tuple[str, ASGIApp]] = ()) -> None:
        """``allowed_hosts``: Host header names accepted besides IP literals (None: any Host; see
        ``_hosts``). ``body_timeout_s``: a request whose body stalls this long gets 408.
        ``metrics``: where outcomes are counted (/metrics); ``routes``: (path prefix, ASGI app)
        pairs served behind the token (the Jaeger API, the UI)."""
        self.writer = writer
        self.token = token
        self.allowed_hosts = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        self.body_timeout_s = body_timeout_s
        self.max_body = max_body
        self.max_inflight_bytes = max(max_inflight_bytes, max_body)
        self.budget = budget if budget is not None else InflightBudget(self.max_inflight_bytes)
        self.ready = False
        self.live = live
        self.pool = pool
        self.metrics = metrics if metrics is not None else CollectorMetrics()
        self.routes = [(prefix.rstrip("/"), app) for prefix, app in routes]
        self.counts = {"accepted": 0, "rejected": 0, "overloaded": 0, "bad_request": 0, "bad_host": 0,
                       "timeout": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if self.allowed_hosts is not None:
            host = _headers(scope).get("host")
            if host is not None and not host_allowed(host, self.allowed_hosts):
                # DNS rebinding: a web page on attacker.example resolving to 127.0.0.1 sends its own name
                self.counts["bad_host"] += 1
                if path in _PATHS:
                    self.metrics.rejected(_PATHS[path].name, "forbidden_host")
                msg = (f"Host {host[:100]!r} is not allowed; start the collector with --allow-host NAME "
                       f"to accept it\n")
                await _respond(send, 403, msg.encode("utf-8", "replace"), "text/plain")
                return
        if path == "/healthz":
            ok = self.ready
            await _respond(send, 200 if ok else 503, b"ok\n" if ok else b"starting\n", "text/plain")
            return
        sig = _PATHS.get(path)
        if sig is None:
            await self._read(path, scope, receive, send)
            return
        headers = _headers(scope)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        reply_type = JSON if ctype == JSON else PROTOBUF
        if method != "POST":
            self.metrics.rejected(sig.name, "unsupported")
            await _status(send, 405, code_pb2.UNIMPLEMENTED, f"{method} not allowed; use POST", reply_type,
                          extra=[(b"allow", b"POST")])
            return
        if not self._authorized(scope, headers):
            self.metrics.rejected(sig.name, "unauthorized")
            await _status(send, 401, code_pb2.UNAUTHENTICATED, "missing or wrong bearer token", reply_type,
                          extra=[(b"www-authenticate", b"Bearer")])
            return
        if ctype not in (PROTOBUF, JSON):
            self.metrics.rejected(sig.name, "unsupported")
            await _status(send, 415, code_pb2.INVALID_ARGUMENT,
                          f"unsupported content type {ctype!r}; use {PROTOBUF} or {JSON}", PROTOBUF)
            return
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ENCODINGS:
            self.metrics.rejected(sig.name, "unsupported")
            await _status(send, 415, code_pb2.INVALID_ARGUMENT,
                          f"unsupported content encoding {encoding!r}; use gzip or deflate", reply_type)
            return
        await self._export(sig, scope, receive, send, headers, ctype, encoding)

    async def _read(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        """The read side: /metrics, /v1/live/*, /ui/login and the mounted apps (same token)."""
        if path == "/ui/login":
            await login(self.token, scope, receive, send)
            return
        app: ASGIApp | None = None
        if path == "/metrics":
            app = self._metrics
        elif self.live is not None and path.startswith("/v1/live/"):
            app = self.live
        else:
            app = next((a for prefix, a in self.routes if path == prefix or path.startswith(prefix + "/")), None)
        if app is None:
            await _respond(send, 404, b"not found\n", "text/plain")
            return
        if not self._authorized(scope, cookie=scope["method"] in ("GET", "HEAD")):
            if path.startswith("/ui") and "text/html" in _headers(scope).get("accept", ""):
                await _respond(send, 303, b"", "text/plain", [(b"location", b"/ui/login")])
            elif path.startswith("/v1/live/"):
                await _status(send, 401, code_pb2.UNAUTHENTICATED, "missing or wrong bearer token", PROTOBUF)
            else:
                await _respond(send, 401, b"missing or wrong bearer token\n", "text/plain",
                               [(b"www-authenticate", b"Bearer")])
            return
        await app(scope, receive, send)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"use GET\n", "text/plain", [(b"allow", b"GET")])
            return
        await _respond(send, 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)

    def _authorized(self, scope: Scope, headers: dict[str, str] | None = None, *, cookie: bool = False) -> bool:
        """The bearer token; for read-only GETs also the browser cookie set by ``/ui/login``."""
        if not self.token:
            return True
        headers = headers or _headers(scope)
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode()):
            return True
        if cookie:
            got = cookie_token(headers.get("cookie", ""))
            return got is not None and hmac.compare_digest(got.encode(), self.token.encode())
        return False

    @property
    def inflight_bytes(self) -> int:
        """Decompressed request bytes held right now, over every connection."""
        return self.budget.used

    async def _export(self, sig: Signal, scope: Scope, receive: Receive, send: Send,
                      headers: dict[str, str], ctype: str, encoding: str) -> None:
        declared = headers.get("content-length", "")
        length = int(declared) if declared.isdigit() else 0
        if encoding in ("", "identity") and length > self.max_body:
            self.metrics.rejected(sig.name, "too_large")
            await _status(send, 413, code_pb2.RESOURCE_EXHAUSTED,
                          f"body of {length} bytes is over the {self.max_body}-byte limit", ctype)
            return
        if not self.budget.fits(min(length, self.max_body)):  # refuse before reading a byte
            await self._overloaded(send, ctype, sig)
            return
        hold = self.budget.hold()  # every decompressed byte is counted as it streams in
        self.writer.incoming(1)  # the writer may wait for this request to join its commit group
        announced = True
        try:
            try:
                body = await read_body(_chunks(receive, self.body_timeout_s), encoding, self.max_body, hold.take)
            except asyncio.TimeoutError:
                self.counts["timeout"] += 1
                self.metrics.rejected(sig.name, "timeout")
                await _status(send, 408, code_pb2.DEADLINE_EXCEEDED,
                              f"no body data for {self.body_timeout_s:g} s", ctype, extra=[(b"connection", b"close")])
                return
            except PayloadTooLargeError as exc:
                self.metrics.rejected(sig.name, "too_large")
                await _status(send, 413, code_pb2.RESOURCE_EXHAUSTED, str(exc), ctype)
                return
            except OverloadedError:
                await self._overloaded(send, ctype, sig)
                return
            except DecodeError as exc:
                self.counts["bad_request"] += 1
                self.metrics.rejected(sig.name, "bad_request")
                await _status(send, 400, code_pb2.INVALID_ARGUMENT, str(exc), ctype)
                return
            try:
                if self.pool is not None and len(body) > _POOL_BYTES:
                    conv = await self.pool.convert(sig, body, ctype)
                elif len(body) > _OFFLOAD_BYTES:
                    conv = await asyncio.to_thread(_decode_convert, sig, body, ctype)
                else:
                    conv = _decode_convert(sig, body, ctype)
            except DecodeError as exc:
                self.counts["bad_request"] += 1
                self.metrics.rejected(sig.name, "bad_request")
                await _status(send, 400, code_pb2.INVALID_ARGUMENT, str(exc), ctype)
                return
            del body
            if conv.tables:
                announced = False
                try:
                    fut = self.writer.submit(conv.tables, announced=True)
                except OverloadedError as exc:
                    self.counts["overloaded"] += 1
                    self.metrics.rejected(sig.name, "overloaded")
                    await _status(send, 503, code_pb2.UNAVAILABLE, str(exc), ctype,
                                  extra=[(b"retry-after", str(max(1, round(exc.retry_after))).encode())])
                    return
                conv.tables = {}
                try:
                    await asyncio.wrap_future(fut)
                except StorageError as exc:
                    logger.error("write failed: %s", exc)
                    self.metrics.rejected(sig.name, "storage_error")
                    await _status(send, 503, code_pb2.UNAVAILABLE, "storage write failed; retry later", ctype,
                                  extra=[(b"retry-after", b"5")])
                    return
            self.counts["accepted"] += conv.accepted
            self.counts["rejected"] += conv.rejected
            self.metrics.accepted(sig.name, conv.accepted, conv.rejected)
            await _respond(send, 200, sig.response_body(conv, ctype), ctype)
        finally:
            if announced:
                self.writer.incoming(-1)
            hold.release()

    async def _overloaded(self, send: Send, ctype: str, sig: Signal) -> None:
        self.counts["overloaded"] += 1
        self.metrics.rejected(sig.name, "overloaded")
        await _status(send, 503, code_pb2.UNAVAILABLE, "too many bytes in flight; retry later", ctype,
                      extra=[(b"retry-after", b"1")])


def _decode_convert(sig: Signal, body: bytes, ctype: str) -> Any:
    return sig.convert(sig.decode(body, ctype))


async def _chunks(receive: Receive, timeout_s: float | None = None) -> AsyncIterator[bytes]:
    while True:
        msg = await asyncio.wait_for(receive(), timeout_s)
        if msg["type"] == "http.disconnect":
            raise DecodeError("client disconnected")
        yield msg.get("body", b"")
        if not msg.get("more_body", False):
            return


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _respond(send: Send, status: int, body: bytes, ctype: str,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _status(send: Send, http_status: int, code: int, message: str, ctype: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    st = status_pb2.Status(code=code, message=message)
    body = to_json(st) if ctype == JSON else st.SerializeToString()
    await _respond(send, http_status, body, ctype if ctype in (JSON, PROTOBUF) else PROTOBUF, extra)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
