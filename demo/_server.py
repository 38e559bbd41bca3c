"""The OpenAI-compatible demo model server (FastAPI).

Routes: ``POST /v1/chat/completions`` (plain and SSE streaming), ``POST /v1/embeddings``,
``GET /v1/models``, ``GET|POST /admin/faults``. Each chat request: moderation, the user's
payments (memory or DB), risk features, a risk check that holds a pooled connection across the
downstream call and writes an audit row, then the response cache or a real generation.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from infersight.demo._app_state import AppState
from infersight.demo._config import ServerConfig
from infersight.demo._engine import GenRequest
from infersight.demo._errors import DemoConfigError, DemoError, DownstreamError
from infersight.demo._payments import SQL, query_user
from infersight.demo._telemetry import generation, instrument_service, job_runner, pooled, traced_cache
from infersight.demo._validate import parse_chat, parse_embeddings
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)


def _gpu_plane_wanted(cfg: ServerConfig) -> bool:
    """``--gpu auto``: the GPU plane only where a CUDA GPU is present (no NVML warning on CPU boxes)."""
    return cfg.gpu == "on" or (cfg.gpu == "auto" and AppState._gpu_present())


def create_app(cfg: ServerConfig | None = None, *, tracer_provider: trace.TracerProvider | None = None,
               meter_provider: Any = None, registry: Any = None) -> FastAPI:
    """The demo server, instrumented with infersight (global providers unless injected)."""
    cfg = cfg or ServerConfig()
    providers = {"tracer_provider": tracer_provider, "meter_provider": meter_provider, "registry": registry}
    state = AppState(cfg)
    state.providers = providers
    tracer = trace.get_tracer("infersight.demo", tracer_provider=tracer_provider)
    state.tracer = tracer
    response_traced = traced_cache("response_cache", **providers)
    embed_traced = traced_cache("embedding_cache", **providers)
    payments_traced = traced_cache("payments_cache", **providers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start(job_runner(**providers))
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(title="infersight demo model server", lifespan=lifespan)
    app.state.demo = state

    @app.exception_handler(DemoError)
    async def _demo_error(request: Request, exc: DemoError) -> JSONResponse:
        status = 400 if isinstance(exc, DemoConfigError) else 502 if isinstance(exc, DownstreamError) else 503
        return JSONResponse({"error": {"message": str(exc), "type": type(exc).__name__}}, status_code=status)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": state.model_name, "object": "model", "owned_by": "infersight"}]}

    @app.get("/admin/faults")
    async def get_faults() -> dict[str, Any]:
        return state.fault_state()

    @app.post("/admin/faults")
    async def post_faults(request: Request) -> dict[str, Any]:
        body = await _json(request)
        for name in body.get("disable", []):
            await state.set_fault(str(name), False)
        for name in body.get("enable", []):
            await state.set_fault(str(name), True)
        return state.fault_state()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        req = parse_embeddings(await _json(request))
        with tracer.start_as_current_span(f"embeddings {state.model_name}", kind=SpanKind.INTERNAL) as span:
            span.set_attributes({"gen_ai.operation.name": "embeddings", "gen_ai.request.model": req.model,
                                 "gen_ai.provider.name": "infersight"})
            data, n_tokens, hits = [], 0, 0
            for i, text in enumerate(req.inputs):
                ids = state.tokenizer.encode(text)[: state.cfg.max_seq] or [state.tokenizer.eos_id]
                n_tokens += len(ids)
                key = "emb:" + hashlib.sha256(text.encode()).hexdigest()
                with embed_traced.lookup(key) as lk:
                    vec = await _cache_get(state.embed_cache, key)
                    if vec is None:
                        lk.miss()
                        vec = await asyncio.to_thread(_embed, state, ids)
                        await _cache_set(state.embed_cache, key, vec, state.cfg.cache_ttl * 10)
                    else:
                        hits += 1
                data.append({"object": "embedding", "index": i, "embedding": vec})
            span.set_attributes({"gen_ai.usage.input_tokens": n_tokens, "infersight.cache.hits": hits})
        return JSONResponse({"object": "list", "data": data, "model": state.model_name,
                             "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = parse_chat(await _json(request), default_model=state.model_name)
        prompt_ids = state.tokenizer.apply_chat_template(req.messages)
        state.engine.check(prompt_ids, req.max_tokens)  # a 400 before any work is done
        span = tracer.start_span(f"chat {state.model_name}", kind=SpanKind.INTERNAL)
        start_ns = span.start_time or time.time_ns()  # type: ignore[attr-defined]
        span.set_attributes({
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "infersight",
            "gen_ai.request.model": req.model, "gen_ai.request.max_tokens": req.max_tokens,
            "gen_ai.request.temperature": req.temperature, "gen_ai.usage.input_tokens": len(prompt_ids),
            "infersight.request.stream": req.stream,
        })
        try:
            with trace.use_span(span, end_on_exit=False):
                # one connection per request, held until the answer is ready (a DB-session dependency)
                async with pooled(state.pool, **state.providers) as conn:
                    await _risk_path(state, tracer, payments_traced, conn, req.user, prompt_ids, req.prompt_text)
                    if not req.stream:
                        body = await _complete(state, response_traced, span, start_ns, prompt_ids, req)
                        span.end()
                        return JSONResponse(body)
                gen = _submit(state, prompt_ids, req, stream=True)
                return StreamingResponse(_sse(state, span, start_ns, gen, req), media_type="text/event-stream")
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise

    instrument_service(app, cfg.service_name, gpu=_gpu_plane_wanted(cfg), **providers)
    return app


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DemoConfigError("request body must be JSON") from None
    if not isinstance(body, dict):
        raise DemoConfigError("request body must be a JSON object")
    return body


def _embed(state: AppState, ids: list[int]) -> list[float]:
    h = state.model.hidden_states(ids)
    v = h.mean(axis=0)
    n = float((v * v).sum()) ** 0.5 or 1.0
    return [round(float(x) / n, 6) for x in v]


async def _cache_get(cache: Any, key: str) -> Any:
    r = cache.get(key)
    return await r if asyncio.iscoroutine(r) else r


async def _cache_set(cache: Any, key: str, value: Any, ttl: float) -> None:
    r = cache.set(key, value, ttl)
    if asyncio.iscoroutine(r):
        await r


async def _complete(state: AppState, response_traced: Any, span: Span, start_ns: int, prompt_ids: list[int],
                    req: Any) -> dict[str, Any]:
    """A non-streaming answer: from the response cache (greedy/seeded requests) or generated."""
    if req.temperature > 0 and req.explicit_seed is None:  # sampled answers are not cached
        body = await _generate_and_cache(state, span, start_ns, prompt_ids, req, None)
        return dict(body, id=f"chatcmpl-{uuid.uuid4().hex[:16]}")
    key = req.cache_key(prompt_ids)
    with response_traced.lookup(key) as lk:
        cached = state.response_cache.get(key)
        span.set_attribute("cache.hit", cached is not None)
        if cached is None:
            lk.miss()
            cached, shared = await state.cache_policy.load(
                key, lambda: _generate_and_cache(state, span, start_ns, prompt_ids, req, key))
            span.set_attribute("infersight.cache.single_flight_shared", shared)
        else:
            ttft = (time.time_ns() - start_ns) / 1e9
            span.set_attribute("gen_ai.server.time_to_first_token", ttft)
            generation(ttft_s=ttft, input_tokens=len(prompt_ids), output_tokens=cached["usage"]["completion_tokens"],
                       model=state.model_name, **state.providers)
    span.set_attribute("gen_ai.usage.output_tokens", cached["usage"]["completion_tokens"])
    return dict(cached, id=f"chatcmpl-{uuid.uuid4().hex[:16]}")


async def _risk_path(state: AppState, tracer: trace.Tracer, payments_traced: Any, conn: Any, user: int,
                     prompt_ids: list[int], text: str) -> None:
    with tracer.start_as_current_span("moderation") as span:
        inline = "event_loop_block" in state.active
        span.set_attribute("infersight.demo.inline", inline)
        if inline:  # the fault: CPU work on the event loop
            state.moderation_work(prompt_ids, text)
        else:
            await asyncio.to_thread(state.moderation_work, prompt_ids, text)
    with payments_traced.lookup(user) as lk:
        payments = state.store.cached(user)
        if payments is None:
            lk.miss()
            payments = await asyncio.to_thread(query_user, conn, user)
            state.store.remember(user, payments)
    with tracer.start_as_current_span("risk_features"):
        state.build_features(payments)
    with tracer.start_as_current_span("risk_check"):
        score = await state.downstream_score(user)
        await asyncio.to_thread(_audit, conn, user, score)


def _audit(conn: Any, user: int, score: float) -> None:
    conn.execute(SQL["insert_audit"],
                 (user, "allow" if score < 0.8 else "review", score, time.time()))


class _Gen:
    """A submitted generation and the asyncio side of its token stream."""

    def __init__(self, req: GenRequest, queue: asyncio.Queue[int | None]) -> None:
        self.req, self.queue = req, queue


def _submit(state: AppState, prompt_ids: list[int], req: Any, *, stream: bool) -> _Gen:
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[int | None] = asyncio.Queue()
    def on_token(t: int | None) -> None:
        if stream or t is None:
            loop.call_soon_threadsafe(q.put_nowait, t)

    g = GenRequest(prompt_ids, req.max_tokens, req.temperature, req.seed(prompt_ids), on_token=on_token)
    if "event_loop_block" in state.active:
        state.engine.run_here(g)  # the fault: the model runs synchronously on the event loop
    else:
        state.engine.submit(g)
    return _Gen(g, q)


def _finish_spans(state: AppState, span: Span, start_ns: int, g: GenRequest) -> None:
    tracer = state.tracer
    ctx = trace.set_span_in_context(span)
    for name, a, b in (("gen_ai.queue", g.enqueued_ns, g.admitted_ns),
                       ("gen_ai.prefill", g.admitted_ns, g.prefill_end_ns),
                       ("gen_ai.decode", g.prefill_end_ns, g.done_ns)):
        if a and b:
            child = tracer.start_span(name, context=ctx, start_time=a)
            if name == "gen_ai.prefill":
                child.set_attribute("infersight.prefix_cache.hit_tokens", g.prefix_hit_tokens)
                child.set_attribute("gen_ai.usage.input_tokens", len(g.prompt_ids))
            if name == "gen_ai.decode":
                child.set_attribute("gen_ai.usage.output_tokens", len(g.output_ids))
            child.end(end_time=b)
    span.set_attributes({
        "gen_ai.response.model": state.model_name,
        "gen_ai.usage.output_tokens": len(g.output_ids),
        "gen_ai.response.finish_reasons": [g.finish_reason],
        "infersight.prefix_cache.hit_tokens": g.prefix_hit_tokens,
        "gen_ai.server.time_in_queue": (g.admitted_ns - g.enqueued_ns) / 1e9 if g.admitted_ns else 0.0,
    })
    ttft = (g.first_token_ns - start_ns) / 1e9 if g.first_token_ns else None
    if ttft is not None:
        span.set_attribute("gen_ai.server.time_to_first_token", ttft)
    generation(ttft_s=ttft, input_tokens=len(g.prompt_ids), output_tokens=len(g.output_ids),
               model=state.model_name, **state.providers)


async def _generate_and_cache(state: AppState, span: Span, start_ns: int, prompt_ids: list[int], req: Any,
                              key: str | None) -> dict[str, Any]:
    gen = _submit(state, prompt_ids, req, stream=False)
    await gen.queue.get()  # None: done
    g = gen.req
    _finish_spans(state, span, start_ns, g)
    if g.error is not None:
        raise DemoError(f"generation failed: {g.error}")
    body = {
        "object": "chat.completion", "created": int(time.time()), "model": state.model_name,
        "choices": [{"index": 0, "finish_reason": g.finish_reason,
                     "message": {"role": "assistant", "content": state.tokenizer.decode(g.output_ids)}}],
        "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": len(g.output_ids),
                  "total_tokens": len(prompt_ids) + len(g.output_ids),
                  "prompt_tokens_details": {"cached_tokens": g.prefix_hit_tokens}},
    }
    if key is not None:
        state.response_cache.set_until(key, body, state.cache_policy.deadline())
    return body


async def _sse(state: AppState, span: Span, start_ns: int, gen: _Gen, req: Any) -> AsyncIterator[bytes]:
    cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
    created = int(time.time())
    dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created,
                                "model": state.model_name,
                                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n".encode()

    g = gen.req
    try:
        yield chunk({"role": "assistant", "content": ""})
        while True:
            tok = await gen.queue.get()
            if tok is None:
                break
            text = dec.decode(state.tokenizer.token_bytes(tok))
            if text:
                yield chunk({"content": text})
        tail = dec.decode(b"", final=True)
        if tail:
            yield chunk({"content": tail})
        if g.error is not None:
            raise DemoError(f"generation failed: {g.error}")
        usage = {"prompt_tokens": len(g.prompt_ids), "completion_tokens": len(g.output_ids),
                 "total_tokens": len(g.prompt_ids) + len(g.output_ids)}
        yield chunk({}, g.finish_reason, usage if req.include_usage else None)
        yield b"data: [DONE]\n\n"
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _finish_spans(state, span, start_ns, g)
        span.end()


__all__ = ["create_app"]
