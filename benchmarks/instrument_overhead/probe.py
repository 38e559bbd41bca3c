"""Stall probe for the benchmark server (``INFERSIGHT_BENCH_PROBE=/path.json``; not in the timed runs).

Under a closed-loop load (wrk keeps every connection busy) the event loop should start a new
request every few hundred µs; a long gap between two request starts is a stall of the server
process. The probe records every request start (``perf_counter_ns`` into a preallocated
``array``, ~0.2 µs), and the intervals of the things suspected of causing stalls: span
exports (wall and thread CPU time, batch size), OTLP metric collections, GC collections and
the GC drain. At exit it writes them to the JSON file; ``stalls.py`` attributes the gaps.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from array import array
from typing import Any

_N = 1 << 21
_starts = array("q", bytes(8 * _N))
_count = [0]
_events: list[tuple[str, int, int, int, int]] = []  # (kind, start_ns, end_ns, thread_cpu_ns, size)
_gc_t0 = [0]


def wrap_asgi(app: Any, path: str) -> Any:
    """The app with request starts recorded; the file is written at lifespan shutdown (uvicorn
    re-raises SIGTERM after its shutdown, so ``atexit`` would not run)."""
    starts, count, perf = _starts, _count, time.perf_counter_ns
    gc.callbacks.append(_gc_cb)

    async def probed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            i = count[0]
            if i < _N:
                starts[i] = perf()
                count[0] = i + 1
        elif scope["type"] == "lifespan":
            inner_receive = receive

            async def receive() -> Any:
                message = await inner_receive()
                if message["type"] == "lifespan.shutdown":
                    dump(path)
                return message
        await app(scope, receive, send)

    return probed


def _timed(kind: str, fn: Any, size_of: Any = None) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            size = size_of(args) if size_of is not None else 0
            _events.append((kind, t0, time.perf_counter_ns(), time.thread_time_ns() - c0, size))

    return wrapper


_gc_threads: dict[str, int] = {}
# INFERSIGHT_BENCH_PROBE_YOUNG=1: types of the young objects alive at some gen-0 collections
_YOUNG_TYPES: dict[str, int] | None = {} if os.environ.get("INFERSIGHT_BENCH_PROBE_YOUNG") else None


def _gc_cb(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        if _YOUNG_TYPES is not None and info["generation"] == 0 and len(_events) % 10 == 0:
            for o in gc.get_objects(0):
                name = type(o).__qualname__
                if type(o) is tuple and o and type(o[0]) is str:
                    name = f"tuple({o[0][:30]!r}...)"
                _YOUNG_TYPES[name] = _YOUNG_TYPES.get(name, 0) + 1
        _gc_t0[0] = time.perf_counter_ns()
    else:
        _events.append((f"gc{info['generation']}", _gc_t0[0], time.perf_counter_ns(), 0, info["collected"]))
        key = f"gc{info['generation']} in {threading.current_thread().name}"
        _gc_threads[key] = _gc_threads.get(key, 0) + 1


def install(state: Any) -> None:
    """Wrap the exporters, the metric reader and the GC drain of an ``instrument_app`` handle."""
    telemetry = getattr(state, "owned_telemetry", None)
    if telemetry is not None:
        inner = telemetry.span_processor._inner
        counting = inner._exporter
        counting.export = _timed("span_export", counting.export, lambda a: len(a[0]))
        real = counting.exporter
        client = getattr(real, "_client", None)
        if client is not None:
            client.export = _timed("span_post", client.export, lambda a: len(a[0]))
        for reader in telemetry.meter_provider._metric_readers:
            reader.collect = _timed("metrics_collect", reader.collect)
            exporter = getattr(reader, "_exporter", None)
            if exporter is not None:
                exporter.export = _timed("metrics_export", exporter.export)
    if state.gc is not None:
        state.gc.drain = _timed("gc_drain", state.gc.drain)
    if state.loop is not None:
        state.loop.record = _timed("loop_record", state.loop.record)


def dump(path: str) -> None:
    n = min(_count[0], _N)
    doc = {"pid": os.getpid(), "starts_ns": _starts[:n].tolist(), "events": _events, "gc_threads": _gc_threads,
           "young_types": sorted((_YOUNG_TYPES or {}).items(), key=lambda kv: -kv[1])[:40]}
    with open(path, "w") as f:
        json.dump(doc, f)

