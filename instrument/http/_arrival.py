"""When did a request really arrive? The wait before its SERVER span started.

A request that arrives while the event loop is blocked waits in the socket until the loop
comes back; its span starts after the block, so that wait is in no span. Sources, best first:

- ``x-request-start``: a gateway's ``X-Request-Start`` (or ``X-Queue-Start``) header, in any
  of the forms proxies send: ``t=<seconds.millis>`` (nginx ``t=${msec}``), ``t=<microseconds>``
  (Apache ``%t``), ``<milliseconds>`` (Heroku), or nanoseconds; the unit is told apart by
  magnitude, as APM agents do. Measured, so it is set on every request that carries it; it
  includes the network hop from the gateway and any clock skew between the two hosts (a value
  in the future within 1 s counts as 0; one further off, or over an hour old, is ignored).
- ``loop-block-estimate``: the request started right after an event-loop block (see
  ``LoopLagMonitor.queued_since``); the wait is estimated as the time from the block's
  estimated start to the span start: the longest the request can have waited for that block,
  an upper bound (a request that arrived late in the block waited less).

Not available in-process (documented in docs/schema.md): ``asgi-server`` (uvicorn exposes no
arrival time in the ASGI scope, and a server reading the socket on the same loop would stamp
it after the block anyway) and ``upstream-client-span`` (``traceparent`` carries ids, not the
caller's start time; the analysis can join the stored CLIENT span to its SERVER child).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

HEADERS = (b"x-request-start", b"x-queue-start")
_FUTURE_NS = 1_000_000_000          # clock skew tolerated before a value is distrusted
_OLDEST_NS = 3600 * 1_000_000_000   # an arrival over an hour before the span start is not one
_E11, _E14, _E17 = Decimal(10) ** 11, Decimal(10) ** 14, Decimal(10) ** 17

QUEUED_MS = "infersight.loop.queued_ms"
ARRIVAL_SOURCE = "infersight.request.arrival_source"


def parse_request_start(value: str, now_ns: int) -> int | None:
    """Unix time (ns) of an ``X-Request-Start`` value, or None when it is not a plausible one."""
    text = value.split(",", 1)[0].strip()
    if text[:2] in ("t=", "T="):
        text = text[2:].strip()
    if not text or len(text) > 40:
        return None
    try:
        number = Decimal(text)  # exact: "1700000000.250" is 250 ms, not 249.999872
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0 or number.adjusted() > 19:  # (no 1e999999 bignum)
        return None
    # seconds < 1e11 (year 5138) <= milliseconds < 1e14 <= microseconds < 1e17 <= nanoseconds
    scale = 10**9 if number < _E11 else 10**6 if number < _E14 else 10**3 if number < _E17 else 1
    ns = int(number * scale)
    if ns - now_ns > _FUTURE_NS or now_ns - ns > _OLDEST_NS:
        return None
    return ns


def header_value(headers: Any) -> str | None:
    """The first X-Request-Start / X-Queue-Start value among ASGI ``(name, value)`` byte pairs."""
    for k, v in headers or ():
        if k in HEADERS:
            return str(v.decode("latin-1"))
    return None


def set_queued(span: Any, span_start_ns: int, request_start: str | None, block_start_ns: int | None) -> None:
    """Set ``infersight.loop.queued_ms`` + ``infersight.request.arrival_source`` on a request span.

    ``span_start_ns``: the span's start (Unix ns); ``block_start_ns``: the estimated start (Unix
    ns) of the loop block the request queued behind, or None.
    """
    if request_start is not None:
        arrival = parse_request_start(request_start, span_start_ns)
        if arrival is not None:
            span.set_attribute(QUEUED_MS, max(0, span_start_ns - arrival) / 1e6)
            span.set_attribute(ARRIVAL_SOURCE, "x-request-start")
            return
    if block_start_ns is not None:
        span.set_attribute(QUEUED_MS, max(0, span_start_ns - block_start_ns) / 1e6)
        span.set_attribute(ARRIVAL_SOURCE, "loop-block-estimate")


__all__ = ["ARRIVAL_SOURCE", "HEADERS", "QUEUED_MS", "header_value", "parse_request_start", "set_queued"]
