"""A reusable open-loop HTTP client: Poisson arrivals, latency from the scheduled send, CLIENT spans.

    from infersight.demo import OpenLoopRequest, run_open_loop, write_requests_csv
    from infersight.instrument.client import ClientSpans

    spans = ClientSpans("mywork-load", endpoint=collector_url)
    records = asyncio.run(run_open_loop("http://127.0.0.1:8000",
                                        lambda rng: OpenLoopRequest("GET", "/items/1", route="/items/{id}"),
                                        rate=20, duration=60, spans=spans))
    spans.shutdown()
    write_requests_csv(records, "requests.csv")

Arrival times are drawn in advance and never wait for the server (no coordinated omission):
a request's latency runs from its *scheduled* send time to the last byte (or streamed line) of
its response, so time spent queued in the client or the server counts. With ``spans`` every
request is one CLIENT span that starts at the scheduled time and whose ``traceparent`` goes out
with the request (the "Client-side truth" contract in CONTRACTS.md). The demo's
``infersight demo load`` is this client with the demo's request mix.
"""

from __future__ import annotations

import asyncio
import csv
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class OpenLoopRequest:
    """What to send. ``route`` is the template named in the span (default: ``path``);
    ``stream`` reads the body line by line and times the first line ``first_token`` accepts
    (TTFT); ``kind`` labels the request in the results."""

    method: str = "GET"
    path: str = "/"
    route: str | None = None
    json: Any = None
    stream: bool = False
    kind: str = ""
    headers: Mapping[str, str] | None = None
    first_token: Callable[[str], bool] | None = None


@dataclass
class RequestRecord:
    """What the client measured for one request (times in seconds unless named otherwise)."""

    kind: str
    scheduled: float                 # since the run started
    latency: float | None            # response end - scheduled send; None when it failed
    ttft: float | None = None
    status: int = 0
    error: str = ""
    method: str = ""
    route: str = ""
    scheduled_unix_ns: int = 0
    send_lag_ms: float = 0.0         # actual send - scheduled send
    trace_id: str = ""


def _first_line(line: str) -> bool:
    return bool(line.strip())


async def _send(client: httpx.AsyncClient, url: str, req: OpenLoopRequest, headers: dict[str, str],
                t0: int, at_ns: int) -> tuple[int, float | None]:
    """(status, ttft in s from the scheduled time or None)."""
    if req.stream:
        ttft = None
        accept = req.first_token or _first_line
        async with client.stream(req.method, url + req.path, json=req.json, headers=headers) as resp:
            async for line in resp.aiter_lines():
                if ttft is None and accept(line):
                    ttft = (time.perf_counter_ns() - t0 - at_ns) / 1e9
            return resp.status_code, ttft
    resp = await client.request(req.method, url + req.path, json=req.json, headers=headers)
    return resp.status_code, None


async def _one(client: httpx.AsyncClient, url: str, req: OpenLoopRequest, spans: Any, clock: Any,
               t0: int, at: float) -> RequestRecord:
    at_ns = int(at * 1e9)
    route = req.route or req.path
    rec = RequestRecord(req.kind, at, None, method=req.method, route=route)
    sent = time.perf_counter_ns()
    rec.send_lag_ms = max(0, sent - t0 - at_ns) / 1e6
    handle = None
    headers = dict(req.headers or {})
    if spans is not None:
        rec.scheduled_unix_ns = clock.wall(t0 + at_ns)
        handle = spans.begin(req.method, route, url, scheduled_ns=rec.scheduled_unix_ns,
                             sent_ns=clock.wall(sent))
        headers.update(handle.headers)
        rec.trace_id = handle.trace_id
    error: str | None = None
    try:
        rec.status, rec.ttft = await _send(client, url, req, headers, t0, at_ns)
        rec.latency = (time.perf_counter_ns() - t0 - at_ns) / 1e9
        if rec.status >= 400:
            rec.error, rec.latency = f"http_{rec.status}", None
        elif rec.ttft is None and req.stream:
            rec.ttft = rec.latency
    except httpx.TimeoutException:
        rec.error = error = "timeout"
    except httpx.HTTPError as exc:
        rec.error = error = type(exc).__name__
    except asyncio.CancelledError:  # still unanswered at the end: counted, never dropped
        rec.error = error = "unfinished"
        raise
    finally:
        if handle is not None:
            handle.finish(rec.status or None, error, clock.wall(time.perf_counter_ns()))
    return rec


async def run_open_loop(url: str, next_request: Callable[[random.Random], OpenLoopRequest], *,
                        rate: float | Callable[[float], float], duration: float, seed: int = 0,
                        timeout: float = 30.0, max_in_flight: int = 2000, spans: Any = None,
                        progress: Callable[[float, int, int], None] | None = None) -> list[RequestRecord]:
    """Drive ``url`` for ``duration`` s at ``rate`` arrivals/s (a number, or a function of the
    elapsed seconds); ``next_request(rng)`` picks each request; ``spans``: a
    :class:`infersight.instrument.client.ClientSpans` (or None: no spans).
    ``progress(elapsed, sent, done)`` ~5x/s. Every scheduled request gets a record: an error,
    ``client_overload`` when ``max_in_flight`` were outstanding, ``unfinished`` at the end."""
    url = url.rstrip("/")
    rate_at = rate if callable(rate) else (lambda _t: float(rate))
    arr_rng = random.Random(seed + 1)
    mix_rng = random.Random(seed)
    records: list[RequestRecord] = []
    tasks: set[asyncio.Task[None]] = set()
    clock = spans.clock if spans is not None else None
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout, pool=None)) as client:
        t0 = time.perf_counter_ns()
        t, sent, last_progress = 0.0, 0, 0.0

        async def fire(req: OpenLoopRequest, at: float) -> None:
            try:
                records.append(await _one(client, url, req, spans, clock, t0, at))
            except asyncio.CancelledError:
                records.append(RequestRecord(req.kind, at, None, error="unfinished", method=req.method,
                                             route=req.route or req.path))
                raise

        while True:
            t += arr_rng.expovariate(rate_at(t))
            if t >= duration:
                break
            delay = t0 / 1e9 + t - time.perf_counter_ns() / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            req = next_request(mix_rng)
            if len(tasks) >= max_in_flight:  # the client itself is saturated: count, never wait
                records.append(RequestRecord(req.kind, t, None, error="client_overload", method=req.method,
                                             route=req.route or req.path))
                continue
            task = asyncio.create_task(fire(req, t))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            now = (time.perf_counter_ns() - t0) / 1e9
            if progress is not None and now - last_progress > 0.2:
                last_progress = now
                progress(now, sent, len(records))
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 5)
        leftover = list(tasks)
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
        if progress is not None:
            progress((time.perf_counter_ns() - t0) / 1e9, sent, len(records))
    records.sort(key=lambda r: r.scheduled)
    return records


def write_requests_csv(records: Iterable[RequestRecord], path: str | Path) -> Path:
    """One row per request (the client-seen truth), columns = :class:`RequestRecord` fields."""
    path = Path(path)
    names = [f.name for f in fields(RequestRecord)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for rec in records:
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(rec).items()})
    return path


__all__ = ["OpenLoopRequest", "RequestRecord", "run_open_loop", "write_requests_csv"]
