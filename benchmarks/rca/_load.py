"""Open-loop load: Poisson arrivals (with optional +-swings), client truth and CLIENT spans.

Arrival times are drawn up front from the run's seed (thinning a Poisson process of the
peak rate), so the schedule never waits for the server: a request's latency is measured from
its SCHEDULED send time to the last byte (or last streamed chunk), and time queued in the
client counts. Every request is also one OTLP CLIENT span exported by the real OTel SDK
exporter (CONTRACTS.md "Client-side truth"), its traceparent injected so the server's SERVER
span is its child.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

TIMEOUT_S = 15.0
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Arrival:
    offset_s: float
    route: int
    values: dict[str, int]


def rate_at(t: float, base: float, swing: dict[str, Any]) -> float:
    kind, amp, period = swing.get("kind"), float(swing.get("amp", 0)), float(swing.get("period_s", 20))
    if kind == "sine":
        return base * (1 + amp * math.sin(2 * math.pi * t / period))
    if kind == "steps":
        return base * (1 + amp if int(t // (period / 2)) % 2 == 0 else 1 - amp)
    return base


def _key(rng: random.Random, lo: int, hi: int) -> int:
    """Skewed keys (log-uniform over [lo, hi]): a few hot keys, a long tail, as real traffic."""
    return min(hi, lo + int((hi - lo + 1) ** rng.random()) - 1)


def schedule(routes: list[dict[str, Any]], base: float, duration_s: float, swing: dict[str, Any],
             seed: int) -> list[Arrival]:
    rng = random.Random(seed ^ 0x5EED)
    peak = base * (1 + float(swing.get("amp", 0))) if swing else base
    weights = [float(r.get("weight", 1)) for r in routes]
    out: list[Arrival] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            return out
        if rng.random() * peak > rate_at(t, base, swing):
            continue
        i = rng.choices(range(len(routes)), weights)[0]
        values = {k: _key(rng, int(lo), int(hi)) for k, (lo, hi) in sorted(routes[i].get("vary", {}).items())}
        out.append(Arrival(round(t, 6), i, values))


def _request(route: dict[str, Any], values: dict[str, int]) -> tuple[str, Any]:
    path = _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), 1)), route["path"])
    body = route.get("json")
    if isinstance(body, dict):
        body = {k: (str(values[k]) if isinstance(v, str) else values[k]) if k in values else v for k, v in body.items()}
    return path, body


class LoadGen:
    def __init__(self, *, workload: str, base_url: str, otlp: str, routes: list[dict[str, Any]]) -> None:
        self.base_url = base_url
        self.routes = routes
        self.rows: list[dict[str, Any]] = []
        resource = Resource.create({"service.name": f"{workload}-load", "infersight.role": "load"})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces")))
        self.tracer = self.provider.get_tracer("benchmarks.rca.load")
        u = urlsplit(base_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80

    async def run(self, arrivals: list[Arrival], t0: float,
                  progress: Callable[[int, int], None] = lambda done, sent: None) -> None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=TIMEOUT_S, limits=limits) as client:
            tasks: set[asyncio.Task[None]] = set()
            for n, a in enumerate(arrivals):
                delay = t0 + a.offset_s - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(self._one(client, a, int((t0 + a.offset_s) * 1e9)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                progress(len(self.rows), n + 1)
            while tasks:
                await asyncio.wait(set(tasks), timeout=0.5)
                progress(len(self.rows), len(arrivals))

    async def _one(self, client: httpx.AsyncClient, a: Arrival, scheduled_ns: int) -> None:
        route = self.routes[a.route]
        method, template = route["method"].upper(), route["path"].split("?", 1)[0]
        path, body = _request(route, a.values)
        sent_ns = time.time_ns()
        lag_ms = (sent_ns - scheduled_ns) / 1e6
        span = self.tracer.start_span(f"{method} {template}", kind=SpanKind.CLIENT, start_time=scheduled_ns,
                                      attributes={"http.request.method": method, "http.route": template,
                                                  "server.address": self.host, "server.port": self.port,
                                                  "infersight.load.scheduled": True,
                                                  "infersight.load.send_lag_ms": round(lag_ms, 3)})
        headers: dict[str, str] = {}
        propagate.inject(headers, context=trace.set_span_in_context(span))
        status, error = 0, None
        try:
            if route.get("stream"):
                async with client.stream(method, path, json=body, headers=headers) as r:
                    async for _chunk in r.aiter_bytes():
                        pass
                    status = r.status_code
            else:
                r = await client.request(method, path, json=body, headers=headers)
                status = r.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        end_ns = time.time_ns()
        if status:
            span.set_attribute("http.response.status_code", status)
        if error is None and status >= 500:
            error = str(status)
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end_ns)
        ctx = span.get_span_context()
        self.rows.append({"scheduled_ns": scheduled_ns, "sent_ns": sent_ns, "end_ns": end_ns,
                          "latency_ms": (end_ns - scheduled_ns) / 1e6, "send_lag_ms": lag_ms,
                          "method": method, "route": template, "status": status, "error": error,
                          "trace_id": format(ctx.trace_id, "032x")})

    def close(self) -> None:
        self.provider.shutdown()


__all__ = ["Arrival", "LoadGen", "rate_at", "schedule"]
