"""A process shaped like vLLM's API server, for testing the plugin without vLLM.

    python tests/vllm/vllm_like_process.py serve [--fork]

It calls the plugin's ``register()`` the way vLLM does (before any tracing is set up), then,
on an asyncio loop, starts a span like vLLM's startup spans, makes garbage and collects it
while a request is "in flight", and ends an ``llm_request`` span exactly as vLLM's output
processor does (after the fact, ``start_time`` = arrival, client ``traceparent`` as parent,
``gen_ai.*`` attributes, through the global tracer). With ``--fork`` it then forks a child
named ``EngineCore`` (vLLM's fork start method on GPUs) that collects garbage for a while.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import sys
import time

from infersight.instrument.vllm.plugin import register
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _engine_core() -> None:
    for _ in range(5):
        junk = [[{} for _ in range(20)] for _ in range(2000)]
        gc.collect()
        del junk
        time.sleep(0.3)


async def _serve() -> None:
    tracer = trace.get_tracer("vllm.v1.engine.core_client")
    with tracer.start_as_current_span("AsyncMPClient init"):
        pass
    await asyncio.sleep(0.3)  # the loop-lag monitor starts and samples
    arrival = time.time_ns()
    await asyncio.sleep(0.05)
    junk = [[{} for _ in range(50)] for _ in range(4000)]
    gc.collect()
    del junk
    time.sleep(0.15)  # blocks the loop inside the request: an event_loop.blocked episode
    await asyncio.sleep(0.2)
    e2e = (time.time_ns() - arrival) / 1e9
    ctx = TraceContextTextMapPropagator().extract({"traceparent": TRACEPARENT})
    span = trace.get_tracer("vllm.tracing.otel").start_span(
        "llm_request", context=ctx, kind=SpanKind.SERVER, start_time=arrival)
    span.set_attributes({
        "gen_ai.latency.time_to_first_token": e2e / 2, "gen_ai.latency.e2e": e2e,
        "gen_ai.latency.time_in_queue": e2e / 4, "gen_ai.latency.time_in_model_prefill": e2e / 4,
        "gen_ai.latency.time_in_model_decode": e2e / 3, "gen_ai.usage.prompt_tokens": 7,
        "gen_ai.usage.completion_tokens": 9, "gen_ai.request.id": "chatcmpl-like-1"})
    span.end()


def main() -> None:
    register()
    asyncio.run(_serve())
    if "--fork" in sys.argv:
        child = multiprocessing.get_context("fork").Process(target=_engine_core, name="EngineCore")
        child.start()
        child.join(timeout=30)
        print(f"child pid {child.pid}")
    time.sleep(0.5)  # one more metric export; the rest is flushed at exit


if __name__ == "__main__":
    main()
