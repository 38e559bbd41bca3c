"""The llm workload's faults show their mechanism in the stored telemetry (not the analysis' verdict).

One run: the server started from env vars alone (as the corpus runner does), real collector,
~20 s of load, five fault windows and a burst. Assertions are on what the faults control: a job that holds
the event loop (no request can start while it runs), the same job in a thread (requests do
start), CPU time added to every decode step (a lower bound on stream time), duplicate loads of
one prefix key, a TTL of half a second, a million allocations, a division by zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.rca.workloads.llm import spec
from tests.rca._launch import Launch

pytestmark = pytest.mark.integration

W1, W2, W3, W4, W5 = (0.0, 4.0), (4.0, 7.0), (7.0, 12.0), (12.0, 16.0), (16.0, 60.0)
END, RPS = 20.0, 6.0
BLOCK_MS, FIXED_MS, EXTRA_MS, TOKENS = 1200.0, 1500.0, 6.0, 24  # TOKENS: the fewest a chat asks for
HOT_CHAT = {k: v for k, v in spec.ROUTES[0].items() if k != "vary"}  # the hot tenant in every copy
assert HOT_CHAT["json"]["tenant"] == "1"  # type: ignore[index]


def _f(family: str, window: tuple[float, float], **params: float) -> dict[str, Any]:
    return {"family": family, "target": spec.FAULTS[family]["targets"][0],  # type: ignore[index]
            "start_s": window[0], "duration_s": window[1] - window[0], "params": params}


FAULTS = [  # one mechanism per window, so a slow busy machine cannot make them pile up
    _f("loop_block_job", W1, block_ms=BLOCK_MS, period_s=3.5),  # once: the next run would be after W1
    _f("code_defect", W1, error_rate=1.0),
    _f("cache_stampede", W2, period_s=100, prefix_tokens=6144),  # one roll-out (a long load), met by a burst
    _f("engine_slowdown", W3, extra_ms=EXTRA_MS),
    _f("cold_cache", W4, ttl_s=0.5),
    _f("loop_block_fixed", W5, block_ms=FIXED_MS, period_s=100),
    _f("gc_job", W5, objects=1_000_000, period_s=100),
]
SPANS = """
    SELECT SpanName AS name, SpanKind AS kind, Duration / 1e6 AS ms, StatusCode AS status,
           epoch_ns(Timestamp) / 1e9 - ? AS t, "Events.Name" AS events, SpanAttributes AS attrs
    FROM otel_traces"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Launch:
    tmp: Path = tmp_path_factory.mktemp("llm")
    with Launch(spec, tmp, faults=FAULTS, healthy={"job_period_s": 3, "job_ms": 2}, startup_s=20) as launch:
        launch.load(seconds=END, rps=RPS, bursts=[(W2[0] + 0.02, HOT_CHAT, 6)])
    return launch


def spans(run: Launch, where: str, *args: object) -> list[dict[str, Any]]:
    cols = ("name", "kind", "ms", "status", "t", "events", "attrs")
    return [dict(zip(cols, r, strict=True))
            for r in run.sql(f"SELECT * FROM ({SPANS}) WHERE {where} ORDER BY t", [run.t0, *args])]


def test_streams_generations_and_jobs_are_recorded(run: Launch) -> None:
    # 500: the defect on /v1/embeddings; uvicorn closes the connection after an unhandled
    # exception, so a client reusing it for its next request may see a read error (0): rare
    assert run.statuses and set(run.statuses) <= {200, 500, 0}
    assert all("ReadError" in e or "RemoteProtocolError" in e for e in run.errors), run.errors[:5]
    assert len(run.errors) <= 0.05 * len(run.statuses), run.errors[:5]
    chats = spans(run, "name = 'POST /v1/chat/completions' AND status <> 'Error'")
    asked = {str(r["json"]["max_tokens"]) for r in spec.ROUTES if r["path"] == "/v1/chat/completions"}  # type: ignore[index]
    assert chats and {c["attrs"]["gen_ai.usage.output_tokens"] for c in chats} <= asked
    ttft = run.sql("SELECT max(Count) FROM otel_metrics_histogram WHERE MetricName = "
                   "'gen_ai.server.time_to_first_token'")[0][0]
    generated = spans(run, "name IN ('POST /v1/chat/completions', 'POST /v1/completions')")
    assert ttft == len(generated)
    names = {s["name"] for s in spans(run, "kind = 'Internal'")}
    assert {"kv_stats_rollup", "config_refresh", "cache.lookup prefix_cache"} <= names
    assert {r[0] for r in run.sql("SELECT DISTINCT ServiceName FROM otel_traces")} == {"llm-server"}


def test_blocking_job_holds_the_loop_and_its_fix_does_not(run: Launch) -> None:
    blocking = spans(run, "name = 'rebuild_vocab_index' AND t < ?", W1[1])
    fixed = spans(run, "name = 'rebuild_vocab_index' AND t >= ?", W5[0])
    assert len(blocking) == 1 and len(fixed) == 1
    b, f = blocking[0], fixed[0]
    assert b["ms"] >= BLOCK_MS * 0.85 and f["ms"] >= FIXED_MS * 0.85
    during = "kind = 'Server' AND t > ? AND t < ?"
    assert spans(run, during, b["t"] + 0.01, b["t"] + b["ms"] / 1e3 - 0.01) == []  # the loop was held
    assert len(spans(run, during, f["t"], f["t"] + f["ms"] / 1e3)) >= 3  # the loop kept serving
    lag = run.sql("SELECT max(Max) FROM otel_metrics_histogram WHERE MetricName = 'infersight.event_loop.lag'")
    assert lag[0][0] >= b["ms"] / 1e3 - 0.25  # the lag monitor ticks every 0.1 s


def test_code_defect_fails_only_its_route(run: Launch) -> None:
    w1 = spans(run, "kind = 'Server' AND t >= ? AND t < ?", *W1)
    embeddings = [s for s in w1 if s["name"] == "POST /v1/embeddings"]
    assert embeddings and all(s["status"] == "Error" and "exception" in s["events"] for s in embeddings)
    assert all(s["status"] != "Error" for s in w1 if s["name"] != "POST /v1/embeddings")
    later = spans(run, "name = 'POST /v1/embeddings' AND t >= ?", W1[1] + 0.5)
    assert later and all(s["status"] != "Error" for s in later)


def test_stampede_loads_the_hot_prefix_several_times_at_once(run: Launch) -> None:
    misses = spans(run, "name = 'cache.lookup prefix_cache' AND attrs['cache.hit'] = 'false' AND t >= ? AND t < ?",
                   *W2)
    overlapping = [(a, b) for i, a in enumerate(misses) for b in misses[i + 1:]
                   if a["attrs"]["cache.key_hash"] == b["attrs"]["cache.key_hash"] and b["t"] < a["t"] + a["ms"] / 1e3]
    assert len(overlapping) >= 3, misses


def test_engine_slowdown_adds_cpu_to_every_decode_step(run: Launch) -> None:
    chats = spans(run, "name = 'POST /v1/chat/completions' AND t >= ? AND t + ms / 1e3 < ?", *W3)
    assert chats and min(c["ms"] for c in chats) >= TOKENS * EXTRA_MS * 0.9


def _reloaded(run: Launch, window: tuple[float, float]) -> set[str]:
    """Keys whose prefix had been loaded before ``window`` and that miss again inside it."""
    misses = spans(run, "name = 'cache.lookup prefix_cache' AND attrs['cache.hit'] = 'false'")
    loaded = {m["attrs"]["cache.key_hash"] for m in misses if m["t"] + m["ms"] / 1e3 < window[0]}
    return {m["attrs"]["cache.key_hash"] for m in misses
            if window[0] <= m["t"] < window[1] and m["attrs"]["cache.key_hash"] in loaded}


def test_cold_cache_makes_loaded_keys_miss_again(run: Launch) -> None:
    # TTL 900 s otherwise: a loaded prefix stays; under cold_cache (TTL 0.5 s) it expires
    assert _reloaded(run, W3) == set()
    assert len(_reloaded(run, W4)) >= 2


def test_allocating_job_is_followed_by_full_collections(run: Launch) -> None:
    job = spans(run, "name = 'refresh_adapter_index'")
    assert len(job) == 1 and job[0]["attrs"]["infersight.job.rows"] == "500000"
    full = spans(run, "name = 'gc.pause' AND attrs['cpython.gc.generation'] = '2' AND t >= ? AND t < ?",
                 job[0]["t"], END)
    assert full, "no gen-2 collection after the job"
