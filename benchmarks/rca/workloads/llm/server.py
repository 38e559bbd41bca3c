"""llm-server: an OpenAI-style text server over the tiny engine, instrumented as the README says.

Routes: ``POST /v1/chat/completions`` (SSE token stream), ``POST /v1/completions`` (one JSON
answer), ``POST /v1/embeddings`` (light), ``GET /v1/models``. Each tenant's long system prompt is
prefilled once and kept in ``prefix_cache`` (a ``traced_cache`` over a TTL map): a miss costs the
engine a prefill of a few hundred tokens. TTFT and token counts go to ``record_generation``.
Faults (RCA_FAULTS): cache_stampede, cold_cache, engine_slowdown, code_defect here; the job
faults in ``_jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
import zlib
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, MutableMapping
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from infersight.instrument import instrument_app, record_generation, traced_cache, uninstrument_app
from pydantic import BaseModel

from benchmarks.rca.workloads._faultenv import FaultPlan, healthy_extras, run_healthy_job, seeded_rng
from benchmarks.rca.workloads.llm import _jobs
from benchmarks.rca.workloads.llm._engine import Engine, Sequence, TinyLM, tokenize

logger = logging.getLogger(__name__)

SERVICE = os.environ.get("OTEL_SERVICE_NAME") or "llm-server"
MODEL = "tiny-lm"
HOT_TENANT = "1"  # tenant ids are skewed in the load: "1" is the busiest


@functools.lru_cache(maxsize=4096)
def system_prompt(tenant: str) -> list[int]:
    """A tenant's system prompt (384-1024 tokens): what the prefix cache saves the engine."""
    h = zlib.crc32(tenant.encode())
    return [(h + 31 * i) % 4096 for i in range(384 + (h % 5) * 160)]


plan = FaultPlan.from_env()
rng = seeded_rng(SERVICE)
extras = healthy_extras()
jobs = _jobs.JobState()


class TTLMap(MutableMapping[Hashable, Any]):
    """A dict whose entries expire ``ttl_s()`` seconds after they were stored."""

    def __init__(self, ttl_s: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._ttl_s, self._clock = ttl_s, clock

    def __getitem__(self, key: Hashable) -> Any:
        stored, value = self._data[key]
        if self._clock() - stored > self._ttl_s():
            del self._data[key]
            raise KeyError(key)
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._data[key] = (self._clock(), value)

    def __delitem__(self, key: Hashable) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


def _ttl_s() -> float:
    """``cold_cache``: a bad config sets the TTL to seconds: everything stored before expires at
    once (mass expiry), then every tenant's prefix keeps expiring."""
    cold = plan.active("cold_cache")
    return cold.param("ttl_s", 2.0) if cold is not None else 900.0


def _slow_step() -> None:
    """``engine_slowdown``: extra NumPy work inside every decode step (CPU contention in the engine)."""
    slow = plan.active("engine_slowdown")
    if slow is None:
        return
    end = time.thread_time() + slow.param("extra_ms", 5.0) / 1e3
    a = np.ones((128, 128), np.float32)
    while time.thread_time() < end:
        a = np.tanh(a @ a) * 0.5


prefix_cache = traced_cache("prefix_cache", cache=TTLMap(_ttl_s))
engine = Engine(TinyLM(seed=int(os.environ.get("RCA_SEED") or 0)), step_hook=_slow_step)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine.start()
    tasks = [asyncio.create_task(c) for c in (
        _jobs.vocab_index_loop(jobs, plan, seeded_rng(SERVICE + "/vocab")),
        _jobs.adapter_index_loop(jobs, plan, seeded_rng(SERVICE + "/adapters")),
        _jobs.stats_rollup_loop(jobs),
        run_healthy_job(extras, seeded_rng(SERVICE + "/healthy")))]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        engine.stop()
        uninstrument_app(app)  # flush queued spans: uvicorn re-raises SIGTERM, atexit never runs


app = FastAPI(title=SERVICE, lifespan=lifespan)
instrument_app(app, service_name=SERVICE)


class Completion(BaseModel):
    tenant: str = HOT_TENANT
    prompt: str = "hello"
    max_tokens: int = 32


class EmbeddingRequest(BaseModel):
    input: str


def _prefix(tenant: str) -> tuple[tuple[str, int], list[int]]:
    """The prefix-cache key and the system prompt's tokens for a tenant.

    ``cache_stampede``: every ``period_s`` the hot tenant's prompt template is rolled out again as
    a new version of ``prefix_tokens`` tokens (few-shot examples added), so all its requests miss
    together and, with no single-flight, each one prefills the long prompt again."""
    system = system_prompt(tenant)
    stampede = plan.active("cache_stampede")
    if stampede is None or tenant != HOT_TENANT:
        return (tenant, 0), system
    version = 1 + int((time.time() - stampede.start) // stampede.param("period_s", 8.0))
    n = int(stampede.param("prefix_tokens", 4096))
    return (tenant, version), (system * (n // len(system) + 1))[:n]


async def _start(body: Completion) -> tuple[Sequence, asyncio.Queue[int | None], int]:
    key, system = _prefix(body.tenant)
    prefix = await prefix_cache.aget_or_load(key, lambda: engine.prefill(system))
    tokens: asyncio.Queue[int | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    prompt = tokenize(body.prompt)
    seq = Sequence(prefix, prompt, max(1, min(body.max_tokens, 256)),
                   deliver=lambda t: loop.call_soon_threadsafe(tokens.put_nowait, t))
    engine.submit(seq)
    return seq, tokens, len(system) + len(prompt)


async def _tokens(seq: Sequence, tokens: asyncio.Queue[int | None], n_in: int, t0: float) -> AsyncIterator[int]:
    ttft, n_out = None, 0
    try:
        while (token := await tokens.get()) is not None:
            if ttft is None:
                ttft = time.perf_counter() - t0
            n_out += 1
            yield token
    finally:
        seq.cancelled = True  # a client that went away frees its batch slot
        jobs.stats["requests"] += 1
        jobs.stats["tokens"] += n_out
        record_generation(ttft_s=ttft, input_tokens=n_in, output_tokens=n_out, model=MODEL)


@app.post("/v1/chat/completions")
async def chat(body: Completion) -> StreamingResponse:
    t0 = time.perf_counter()
    seq, tokens, n_in = await _start(body)

    async def sse() -> AsyncIterator[bytes]:
        async for token in _tokens(seq, tokens, n_in, t0):
            yield b"data: " + json.dumps({"token": token}).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream")


@app.post("/v1/completions")
async def complete(body: Completion) -> dict[str, Any]:
    t0 = time.perf_counter()
    seq, tokens, n_in = await _start(body)
    out = [t async for t in _tokens(seq, tokens, n_in, t0)]
    return {"model": MODEL, "tokens": out, "usage": {"prompt_tokens": n_in, "completion_tokens": len(out)}}


@app.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
    words = tokenize(body.input)
    bug = plan.active("code_defect")
    # the defect: a new stop-word filter drops every token of some inputs, then divides by the count
    kept = [] if bug is not None and rng.random() < bug.param("error_rate", 0.2) else words
    scale = 1.0 / len(kept)  # ZeroDivisionError on the broken path
    vector = engine.model.embed[words].sum(axis=0) * scale
    return {"model": MODEL, "embedding": [round(float(x), 4) for x in vector[:8]]}


@app.get("/v1/models")
async def models() -> dict[str, Any]:
    return {"data": [{"id": MODEL, "engine_steps": engine.steps, "cached_prefixes": len(prefix_cache.cache)}]}
