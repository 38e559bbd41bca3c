"""The attribute catalog: every span, event, resource, log and metric-point attribute name that
infersight writes or the analysis reads, declared once (next to the metric catalog, ``catalog.py``).

Each :class:`AttributeSpec` says where the name lives (``on``), who writes it (``source``:
``infersight`` for infersight.instrument and its load/probe clients, ``semconv`` for an OTel
semantic-convention name that infersight or a contrib instrumentation writes, ``vllm`` for vLLM's
own, ``app`` for what an application or the demo writes) and, for an old or foreign spelling that
the analysis still reads so older data keeps working, the name that replaced it
(``replaced_by``; ``source="legacy"``). The analysis SQL reads the current name first and the
legacy ones after it (``coalesce(attrs['cache.hit'], attrs['infersight.cache.hit'], ...)``).
tests/instrument/test_attributes.py checks every ``x['name']`` in every ``*/sql/**/*.sql`` file and
every name the instrumentation sets against this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

On = Literal["span", "event", "resource", "log", "metric"]
Source = Literal["infersight", "semconv", "vllm", "app", "legacy"]


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    on: tuple[On, ...]
    source: Source
    meaning: str
    replaced_by: str | None = None


def _a(name: str, on: str, source: Source, meaning: str, replaced_by: str | None = None) -> AttributeSpec:
    return AttributeSpec(name, tuple(on.split(",")), source, meaning, replaced_by)  # type: ignore[arg-type]


ATTRIBUTES: tuple[AttributeSpec, ...] = (
    # --- HTTP (SERVER spans: the middleware; CLIENT spans: httpx/requests instrumentations) ---
    _a("http.route", "span,metric", "semconv", "route template of a request (low cardinality)"),
    _a("http.request.method", "span,metric", "semconv", "HTTP method"),
    _a("http.request.method_original", "span", "semconv", "the method as sent when it is not a known one"),
    _a("http.response.status_code", "span,metric", "semconv", "HTTP status code"),
    _a("url.path", "span", "semconv", "request path (/{unmatched} for a request no route matched)"),
    _a("url.query", "span", "semconv", "query string, values REDACTED unless PrivacyOptions(capture_query=True)"),
    _a("url.scheme", "span", "semconv", "http or https"),
    _a("url.full", "span", "semconv", "a CLIENT span's URL (query values redacted)"),
    _a("http.url", "span", "legacy", "old contrib spelling of url.full", replaced_by="url.full"),
    _a("http.target", "span", "legacy", "old contrib spelling of url.path + query", replaced_by="url.path"),
    _a("server.address", "span", "semconv", "peer host of a CLIENT span (the server of a SERVER span)"),
    _a("server.port", "span", "semconv", "peer port"),
    _a("client.address", "span", "semconv", "address of the client of a SERVER span"),
    _a("network.protocol.version", "span", "semconv", "HTTP version"),
    _a("user_agent.original", "span", "semconv", "User-Agent header"),
    _a("peer.service", "span", "semconv", "logical name of the service a CLIENT span calls"),
    _a("error.type", "span,metric", "semconv", "class of the error a span ended with"),
    _a("exception.type", "event", "semconv", "exception class (the `exception` event)"),
    _a("exception.message", "event", "semconv", "exception message (only with capture_exception_messages)"),
    _a("exception.stacktrace", "event", "semconv", "exception stack trace"),
    _a("exception.escaped", "event", "semconv", "the exception left the span's scope"),
    _a("infersight.loop.queued_ms", "span", "infersight",
       "ms a SERVER span's request waited before the span started (a blocked loop, a gateway's X-Request-Start)"),
    _a("infersight.request.arrival_source", "span", "infersight",
       "what queued_ms was measured from: x-request-start | asgi-server | upstream-client-span | loop-block-estimate"),
    # --- databases and dependencies (contrib instrumentations, semconv) -------------------------
    _a("db.system.name", "span", "semconv", "database kind of a CLIENT span (sqlite, postgresql, ...)"),
    _a("db.system", "span", "legacy", "old semconv spelling of db.system.name", replaced_by="db.system.name"),
    _a("db.namespace", "span", "semconv", "database name"),
    _a("db.name", "span", "legacy", "old semconv spelling of db.namespace", replaced_by="db.namespace"),
    _a("db.response.returned_rows", "span", "semconv", "rows a query returned (also read as a job's rows)"),
    # --- connection pools (traced_pool_acquire) -------------------------------------------------
    _a("db.client.connection.pool.name", "span,metric", "semconv", "pool an acquire span waited on"),
    _a("db.client.connection.wait_time", "span", "semconv", "seconds the acquire waited for a connection"),
    _a("pool.name", "span", "legacy", "other instrumentations' pool name", replaced_by="db.client.connection.pool.name"),
    _a("infersight.pool.name", "span", "legacy", "early infersight pool name", replaced_by="db.client.connection.pool.name"),
    _a("infersight.pool.wait_ms", "span", "legacy", "early infersight wait in ms",
       replaced_by="db.client.connection.wait_time"),
    _a("db.client.connection.pool.size", "span", "infersight", "connections the pool holds at most (its size)"),
    _a("infersight.pool.size", "span", "legacy", "early spelling of the pool size",
       replaced_by="db.client.connection.pool.size"),
    _a("infersight.pool.in_use", "span", "infersight", "connections checked out when the acquire started"),
    _a("infersight.pool.waiting", "span", "infersight", "other acquires waiting when this one started"),
    _a("infersight.pool.timeout", "span", "infersight", "the acquire gave up (timed out)"),
    # --- caches (traced_cache) ------------------------------------------------------------------
    _a("cache.name", "span", "infersight", "the cache a lookup span went to (what makes a span a cache lookup)"),
    _a("cache.hit", "span", "infersight", "the lookup found the key (bool)"),
    _a("cache.key_hash", "span", "infersight", "BLAKE2b-64 hex of the key, stable across processes (never the key)"),
    _a("cache.result", "metric", "infersight", "hit | miss (a metric attribute; read on spans from other writers)"),
    _a("infersight.cache.hit", "span", "legacy", "early spelling of cache.hit", replaced_by="cache.hit"),
    _a("cache.key.hash", "span", "legacy", "another spelling of the key hash", replaced_by="cache.key_hash"),
    _a("infersight.cache.key_hash", "span", "legacy", "early spelling of the key hash", replaced_by="cache.key_hash"),
    _a("cache.key", "span", "legacy", "a raw key from other writers (infersight never writes keys)",
       replaced_by="cache.key_hash"),
    _a("infersight.cache.miss_ms", "span", "infersight", "ms a miss spent loading the value"),
    # --- jobs (traced_job) ----------------------------------------------------------------------
    _a("infersight.job.name", "span", "infersight", "the job a job span (or a loop block inside it) belongs to"),
    _a("infersight.job.rows", "span", "infersight", "rows the job run processed (JobRun.rows or its result)"),
    _a("infersight.job.bytes", "span", "infersight", "bytes the job run processed"),
    _a("infersight.job.status", "metric", "infersight", "ok | error"),
    _a("infersight.job.attribution", "span", "infersight", "how a loop block was tied to a job (current | stack)"),
    _a("infersight.job.duration_s", "span", "infersight", "seconds the job run took"),
    # --- runtime: GC, event loop, CPU -----------------------------------------------------------
    _a("cpython.gc.generation", "span,event,metric", "semconv", "GC generation of a pause / collection"),
    _a("generation", "event,metric", "legacy", "early event/label spelling of the GC generation",
       replaced_by="cpython.gc.generation"),
    _a("infersight.gc.pause_ms", "span,event", "infersight", "ms of a GC pause (gc.pause span; a request's total)"),
    _a("infersight.gc.pause_count", "span", "infersight", "GC pauses during a request"),
    _a("infersight.gc.collected_objects", "span", "infersight", "objects a long pause's collection freed"),
    _a("duration_ms", "event", "infersight", "ms of a gc.pause / event_loop.blocked event on a request span"),
    _a("infersight.loop.blocked_ms", "span", "infersight", "ms the event loop was blocked (event_loop.blocked span)"),
    _a("infersight.event_loop.blocked_ms", "span", "infersight", "ms of loop blocks during a request"),
    _a("infersight.loop.lag_ms", "span", "infersight", "lag the monitor measured for a block"),
    _a("lag_ms", "event", "infersight", "lag of a loop-lag event on a request span"),
    _a("stack", "event", "infersight", "the blocking stack of a loop-lag event (LoopLagOptions(stack=True))"),
    _a("in_progress", "event", "infersight", "a loop-lag event for a block still going on"),
    _a("code.stacktrace", "span", "semconv", "the blocking stack of an event_loop.blocked span"),
    _a("cpu.mode", "metric", "semconv", "user | system (process.cpu.time)"),
    # --- the process and its resource ----------------------------------------------------------
    _a("service.name", "resource", "semconv", "the service (service_name= > OTEL_SERVICE_NAME)"),
    _a("service.instance.id", "resource", "semconv", "one process of a service"),
    _a("process.pid", "resource,metric", "semconv", "process id"),
    _a("process.executable.name", "resource,metric", "semconv", "executable of a process on the GPU"),
    _a("process.runtime.name", "resource", "semconv", "cpython"),
    _a("process.runtime.version", "resource", "semconv", "Python version"),
    _a("infersight.process.role", "resource", "infersight", "server | api | engine | worker | downstream ..."),
    _a("infersight.role", "resource", "infersight", "load | probe: a client-side truth source (CLIENT spans)"),
    _a("infersight.version", "resource", "infersight", "infersight's version"),
    _a("infersight.torch.version", "resource", "infersight", "torch version when torch is imported"),
    _a("infersight.cuda.version", "resource", "infersight", "CUDA version torch was built with"),
    _a("infersight.nvidia.driver.version", "resource", "infersight", "NVIDIA driver version"),
    # --- load generators and probes (infersight.instrument.client) -------------------------------
    _a("infersight.load.scheduled", "span", "infersight", "a CLIENT span started at its scheduled send time"),
    _a("infersight.load.send_lag_ms", "span", "infersight", "actual send - scheduled send (ms)"),
    # --- the model and its device ---------------------------------------------------------------
    _a("infersight.model.name", "span", "infersight", "a model whose device changed"),
    _a("infersight.model.device", "span", "infersight", "device a request's model ran on (cpu, cuda:0)"),
    _a("infersight.model.device.previous", "span", "infersight", "device before a change"),
    _a("infersight.model.device.source", "span", "infersight", "how the device was learnt (declared | torch)"),
    _a("infersight.model.device.type", "span", "infersight", "cpu | cuda | mps ..."),
    _a("infersight.torch.cuda.available", "span", "infersight", "torch.cuda.is_available() at the change"),
    # --- GPU plane (request spans) ---------------------------------------------------------------
    _a("infersight.gpu.seconds", "span", "infersight", "GPU-seconds attributed to a request"),
    _a("infersight.gpu.energy_j", "span", "infersight", "joules attributed to a request"),
    _a("infersight.gpu.cost_usd", "span", "infersight", "cost attributed to a request"),
    _a("infersight.gpu.cost_per_1k_tokens_usd", "span", "infersight", "cost per 1000 tokens"),
    _a("infersight.gpu.tokens", "span", "infersight", "tokens a request reported (attribute(tokens=))"),
    _a("infersight.gpu.split", "span", "infersight", "equal | tokens: how a GPU's time was split"),
    _a("infersight.gpu.util_mean", "span", "infersight", "mean GPU utilisation during a request"),
    _a("infersight.gpu.other_util_mean", "span", "infersight", "other processes' utilisation during it"),
    _a("infersight.gpu.power_mean_w", "span", "infersight", "mean power during a request"),
    _a("infersight.gpu.throttled", "span", "infersight", "the GPU was throttled during the request"),
    _a("infersight.gpu.clock_event_reasons", "span", "infersight", "throttle reasons seen during the request"),
    _a("infersight.gpu.memory_used_max_bytes", "span", "infersight", "peak GPU memory used during it"),
    _a("infersight.gpu.memory_total_bytes", "span", "infersight", "the GPU's memory"),
    _a("infersight.gpu.ooms", "span", "infersight", "allocation failures during it (record_gpu_oom)"),
    _a("infersight.gpu.alloc_retries", "span", "infersight", "allocator retries during it (torch)"),
    _a("infersight.gpu.busy_seconds", "span", "infersight", "seconds the GPU was busy during it"),
    _a("infersight.gpu.samples", "span", "infersight", "NVML samples the attribution used"),
    _a("infersight.gpu.work", "span", "infersight", "the request ran GPU work (bool)"),
    _a("infersight.gpu.share", "span", "infersight", "the request's share of the GPU (vLLM plugin: by tokens)"),
    _a("infersight.gpu.share_source", "span", "infersight", "how the share was measured (process | equal)"),
    _a("infersight.gpu.self_util_mean", "span", "infersight", "this process's own utilisation during it"),
    _a("infersight.gpu.xid_errors", "event", "infersight", "Xid errors during the request"),
    _a("infersight.gpu.alloc_failure.kind", "event,metric", "infersight", "oom | retry: a GPU allocation failure"),
    _a("infersight.gpu.alloc_failure.source", "metric", "infersight", "torch | app: who reported it"),
    _a("infersight.gpu.alloc_failure.bytes", "event", "infersight", "bytes the failed allocation asked for"),
    _a("infersight.gpu.alloc_failure.device", "event", "infersight", "device of the failed allocation"),
    # --- GPU plane (metric points) ---------------------------------------------------------------
    _a("hw.id", "metric", "semconv", "GPU uuid"),
    _a("hw.name", "metric", "semconv", "GPU model"),
    _a("hw.type", "metric", "semconv", "gpu"),
    _a("hw.gpu.task", "metric", "semconv", "general | encoder | decoder (hw.gpu.utilization)"),
    _a("infersight.gpu.field", "metric", "infersight", "the NVML field of a read-error count"),
    _a("gpu.index", "metric", "infersight", "NVML index (\"0\", \"0/mig1\")"),
    _a("gpu", "metric", "legacy", "Prometheus label spelling of the GPU index", replaced_by="gpu.index"),
    _a("infersight.gpu.clock_event.reason", "metric", "infersight", "one throttle reason (hw_slowdown, sw_power_cap ...)"),
    _a("reason", "metric", "legacy", "Prometheus label spelling of a throttle reason",
       replaced_by="infersight.gpu.clock_event.reason"),
    _a("infersight.gpu.consumer", "metric", "infersight", "a process using the GPU"),
    # --- generative AI (record_generation; vLLM's own request spans) ----------------------------
    _a("gen_ai.request.model", "span,metric", "semconv", "model asked for"),
    _a("gen_ai.response.model", "span", "semconv", "model that answered"),
    _a("gen_ai.request.id", "span", "vllm", "the engine's request id"),
    _a("gen_ai.request.max_tokens", "span", "semconv", "max_tokens of the request"),
    _a("gen_ai.usage.input_tokens", "span", "semconv", "prompt tokens"),
    _a("gen_ai.usage.output_tokens", "span", "semconv", "generated tokens"),
    _a("gen_ai.usage.prompt_tokens", "span", "vllm", "prompt tokens, as vLLM's request spans name them"),
    _a("gen_ai.usage.completion_tokens", "span", "vllm", "generated tokens, as vLLM's request spans name them"),
    _a("gen_ai.token.type", "metric", "semconv", "input | output"),
    _a("gen_ai.latency.time_in_queue", "span", "vllm",
       "s the request waited in the engine's queue (vLLM; record_generation(queue_s=))"),
    _a("gen_ai.latency.time_in_model_prefill", "span", "vllm", "s of prefill (vLLM; record_generation(prefill_s=))"),
    _a("gen_ai.latency.time_in_model_decode", "span", "vllm", "s of decode (vLLM; record_generation(decode_s=))"),
    _a("gen_ai.latency.time_in_model_inference", "span", "vllm", "s in the model (prefill + decode)"),
    _a("gen_ai.latency.time_to_first_token", "span", "vllm", "s to the first token (vLLM; record_generation(ttft_s=))"),
    _a("gen_ai.latency.e2e", "span", "vllm", "s end to end inside the engine"),
    _a("infersight.phase", "span", "infersight", "queue | prefill | decode: a reconstructed engine phase span"),
    _a("infersight.reconstructed", "span", "infersight", "a span rebuilt from the engine's timestamps"),
    _a("engine", "metric", "vllm", "vLLM engine index of a vllm:* metric"),
    _a("model_name", "metric", "vllm", "model of a vllm:* metric"),
)

BY_NAME: dict[str, AttributeSpec] = {a.name: a for a in ATTRIBUTES}


def spellings(name: str) -> tuple[str, ...]:
    """``name`` and every legacy spelling the analysis reads for it, current first."""
    return (name, *(a.name for a in ATTRIBUTES if a.replaced_by == name))


__all__ = ["ATTRIBUTES", "BY_NAME", "AttributeSpec", "On", "Source", "spellings"]
