"""Connection limits for the OTLP/HTTP server: a cap on open connections and a header timeout.

uvicorn's h11 protocol keeps a connection that never sends a complete request open forever, and
accepts as many as the process has file descriptors (1,100 half-open connections were held
indefinitely; past the descriptor limit no exporter could connect). This subclass

* answers ``503`` + ``Retry-After`` and closes at once when ``max_connections`` are already open
  (it costs one small write, no request parsing);
* closes a connection whose request line and headers are not complete ``header_timeout_s``
  after it opened or after its previous response (slow-headers clients, idle keep-alive).

Slow *bodies* are timed out by the app (``OTLPHttpApp(body_timeout_s=)``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\n"
         b"connection: close\r\ncontent-length: 21\r\n\r\ntoo many connections\n")


class _GuardedH11(H11Protocol):
    max_connections = 512
    header_timeout_s = 30.0
    refused = 0  # per class (one class per collector, see ``guarded_protocol``)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            type(self).refused += 1
            if type(self).refused in (1, 10, 100) or type(self).refused % 1000 == 0:
                logger.warning("%d connections open (limit %d): refusing new ones with 503 (%d so far)",
                               len(self.connections), self.max_connections, type(self).refused)
            transport.write(_BUSY)
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        idle = self.cycle is None or self.cycle.response_complete  # no request being answered
        if idle and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no complete request line + headers in time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(max_connections: int, header_timeout_s: float) -> type[H11Protocol]:
    """An h11 protocol class with these limits (a class of its own, so counters are per server)."""
    return type("GuardedH11", (_GuardedH11,), {"max_connections": max_connections,
                                               "header_timeout_s": header_timeout_s, "refused": 0})
