"""The llm workload for the RCA corpus: plain data read by the runner (CONTRACTS.md).

One service, ``llm-server``: an OpenAI-style API over a continuous-batching NumPy engine thread
(CPU only), SSE token streaming, a per-tenant prefix cache (``traced_cache``) and periodic jobs.
Tenants' system prompts are 384-1024 tokens; tenant "1" is the hot one.
A family whose ``expected.category`` is empty is a healthy run (``loop_block_fixed``: the
blocking job's fix, a worker process): nothing should be reported above low.
"""

from __future__ import annotations

NAME = "llm"
ENTRY = "llm-server"
RATE = 8.0  # base requests/s of the open-loop load
CPU_TARGETS = ["llm-server"]

SERVICES = [
    {"name": "llm-server", "app": "benchmarks.rca.workloads.llm.server:app",
     "env": {"OTEL_SERVICE_NAME": "llm-server", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}},
]


ROUTES = [  # tenants "1".."24", log-uniform: a few hot tenants (prefixes), a tail
    {"method": "POST", "path": "/v1/chat/completions", "weight": 0.4, "stream": True,
     "json": {"tenant": "1", "prompt": " ".join(f"w{i}" for i in range(40)), "max_tokens": 24},
     "vary": {"tenant": [1, 24]}},
    {"method": "POST", "path": "/v1/chat/completions", "weight": 0.13, "stream": True,
     "json": {"tenant": "1", "prompt": " ".join(f"w{i % 20}" for i in range(120)), "max_tokens": 48},
     "vary": {"tenant": [1, 24]}},
    {"method": "POST", "path": "/v1/completions", "weight": 0.25, "stream": False,  # platform summaries: tenant 1
     "json": {"tenant": "1", "prompt": "summarise my last order", "max_tokens": 16}},
    {"method": "POST", "path": "/v1/embeddings", "weight": 0.17, "stream": False,
     "json": {"input": "where is my parcel it was due yesterday"}},
    {"method": "GET", "path": "/v1/models", "weight": 0.05, "stream": False},
]

_SERVICE = "llm-server"
FAULTS = {
    # a traced_job rebuilds a 300k-entry dict ON the event loop: 0.5-3 s blocks every 10-15 s
    "loop_block_job": {"targets": ["rebuild_vocab_index"],
                       "params": {"block_ms": [500, 3000], "period_s": [10, 15]},
                       "expected": {"category": ["event_loop_block", "periodic_job_interference"],
                                    "entity": "rebuild_vocab_index", "service": _SERVICE}},
    # the same job moved to asyncio.to_thread: off the loop but not off the GIL, and its garbage
    # dies old (gen-2 pauses stop every thread): requests still stall while it runs. (Recorded
    # first as "loop_block_fixed", a healthy run: clients saw P99 x14 while it ran.)
    "job_in_thread": {"targets": ["rebuild_vocab_index"],
                      "params": {"block_ms": [500, 3000], "period_s": [10, 15]},
                      "expected": {"category": ["periodic_job_interference", "gc_pause"],
                                   "entity": "rebuild_vocab_index", "service": _SERVICE}},
    # the fix: the same job in a low-priority worker process (own interpreter, GIL and GC; the
    # server's threads first for the CPU): a healthy run
    "loop_block_fixed": {"targets": ["rebuild_vocab_index"],
                         "params": {"block_ms": [500, 3000], "period_s": [10, 15]},
                         "expected": {"category": [], "entity": "", "service": ""}},
    # a periodic job that reloads objects and keeps them: gen-2 GC pauses after each run
    "gc_job": {"targets": ["refresh_adapter_index"],
               "params": {"objects": [400_000, 1_600_000], "period_s": [8, 15]},
               "expected": {"category": ["gc_pause", "periodic_job_interference"],
                            "entity": "refresh_adapter_index", "service": _SERVICE}},
    # the hot tenant's (longer) prompt template is re-rolled every period_s: all its requests
    # miss together and each prefills it again (no single-flight)
    "cache_stampede": {"targets": ["prefix_cache"],
                       "params": {"period_s": [4, 10], "prefix_tokens": [2048, 6144]},
                       "expected": {"category": ["cache_stampede"], "entity": "prefix_cache",
                                    "service": _SERVICE}},
    # TTL drops to seconds: mass expiry, then every tenant's prefix keeps missing
    "cold_cache": {"targets": ["prefix_cache"],
                   "params": {"ttl_s": [0.5, 3.0]},
                   "expected": {"category": ["cache_miss_storm"], "entity": "prefix_cache",
                                "service": _SERVICE}},
    # extra CPU work inside every decode step: TTFT and stream time rise, nothing else changes
    "engine_slowdown": {"targets": [_SERVICE],
                        "params": {"extra_ms": [2, 12]},
                        "expected": {"category": ["cpu_contention"], "entity": _SERVICE, "service": _SERVICE}},
    # a bug on one route: ZeroDivisionError -> 500 on /v1/embeddings only
    "code_defect": {"targets": ["/v1/embeddings"],
                    "params": {"error_rate": [0.1, 0.5]},
                    "expected": {"category": ["code_defect"], "entity": f"{_SERVICE} /v1/embeddings",
                                 "service": _SERVICE}},
}
