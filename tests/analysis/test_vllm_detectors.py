"""The vLLM detectors (analysis/detectors/_vllm.py) on small hand-made vLLM telemetry.

Each database holds ``llm_request`` SERVER spans with vLLM's ``gen_ai.latency.*`` attributes
(as vLLM writes them, in seconds) and the ``vllm.*`` metrics the plugin forwards; the real
vLLM run is tests/vllm/test_vllm_serve.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from infersight.analysis import connect, diagnose
from infersight.analysis._context import Context
from infersight.analysis._finding import Finding
from infersight.analysis.detectors import _vllm

from tests.analysis._synth import MS, T0, Builder, S

SECONDS = 240
FAULT = (T0 + 100 * S, T0 + 160 * S)


def _vllm_run(b: Builder, fault: str, *, seconds: int = SECONDS, rps: float = 4.0) -> None:
    """vLLM requests (prompt 200 tokens, 20-60 output tokens, 2 ms/token decode) and its metrics.

    fault: clean | queue (requests wait 0.5-1.5 s for a slot) | compute (decode 4x slower per
    token, same batch) | prefix (prefix-cache hit rate 80% -> 5%, prefill 5x longer) — inside FAULT.
    """
    n = int(seconds * rps)
    starts = T0 + np.sort(b.rng.uniform(0, seconds * S, n)).astype(np.int64)
    for st in (int(x) for x in starts):
        on = fault != "clean" and FAULT[0] <= st < FAULT[1]
        out_tokens = int(b.rng.integers(20, 60))
        queue = float(b.rng.uniform(500, 1500)) if on and fault == "queue" else float(b.rng.uniform(0, 2))
        prefill = float(b.rng.lognormal(np.log(15), 0.2)) * (5 if on and fault == "prefix" else 1)
        decode = out_tokens * float(b.rng.lognormal(np.log(2), 0.1)) * (4 if on and fault == "compute" else 1)
        e2e = queue + prefill + decode + float(b.rng.uniform(1, 3))
        attrs = {"gen_ai.latency.e2e": f"{e2e / 1e3:.6f}",
                 "gen_ai.latency.time_to_first_token": f"{(queue + prefill + 1) / 1e3:.6f}",
                 "gen_ai.latency.time_in_queue": f"{queue / 1e3:.6f}",
                 "gen_ai.latency.time_in_model_prefill": f"{prefill / 1e3:.6f}",
                 "gen_ai.latency.time_in_model_decode": f"{decode / 1e3:.6f}",
                 "gen_ai.usage.prompt_tokens": "200", "gen_ai.usage.completion_tokens": str(out_tokens),
                 "gen_ai.request.id": b.new_id()}
        b.span(b.new_id(32), "llm_request", st, int(e2e * MS), kind="Server", service="vllm", attrs=attrs)
    hits = queries = 0.0
    series = {"engine": "0", "model_name": "tiny"}
    for k in range(0, seconds, 5):
        ts = T0 + k * S
        on = fault != "clean" and FAULT[0] <= ts < FAULT[1]
        q = 5 * 200 * rps
        queries += q
        hits += q * (0.05 if on and fault == "prefix" else 0.8)
        b.gauge("vllm.prefix_cache_queries", ts, queries, series)
        b.gauge("vllm.prefix_cache_hits", ts, hits, series)
        b.gauge("vllm.num_requests_running", ts, 4.0, series)
        b.gauge("vllm.num_requests_waiting", ts, 20.0 if on and fault == "queue" else 0.0, series)


def _run(tmp_path: Path, fault: str, *, seed: int = 5) -> tuple[list[Finding], list[Finding]]:
    b = Builder(seed=seed)
    _vllm_run(b, fault)
    db = b.write(tmp_path / f"vllm-{fault}.duckdb")
    with connect(db) as tel:
        ctx = Context.build(tel)
        own = _vllm.detect(ctx)
        return own, diagnose(tel).findings


def _in_fault(f: Finding) -> bool:
    import pandas as pd

    assert f.root_cause.start and f.root_cause.end
    return pd.Timestamp(f.root_cause.start).value < FAULT[1] and pd.Timestamp(f.root_cause.end).value > FAULT[0]


def test_queue_time_is_saturation(tmp_path: Path) -> None:
    own, ranked = _run(tmp_path, "queue")
    assert [f.category for f in own] == ["gpu_saturation"], [(f.category, f.title) for f in own]
    f = own[0]
    assert "queue" in f.title and f.root_cause.entity == "vllm engine"
    assert f.level == "high" and _in_fault(f)
    ev = {e.kind: e for e in f.evidence}
    assert ev["queue_share_of_excess"].value > 0.8 and ev["queue_share_of_excess"].exemplar_trace_ids
    assert ev["waiting_requests_mean"].value > ev["waiting_requests_mean"].baseline
    assert any("max-num-seqs" in r for r in f.remediation)
    assert ranked[0].category == "gpu_saturation" and ranked[0].root_cause.entity == "vllm engine"


def test_slow_compute_is_not_saturation(tmp_path: Path) -> None:
    own, _ = _run(tmp_path, "compute")
    assert [f.category for f in own] == ["gpu_throttling"], [(f.category, f.title) for f in own]
    f = own[0]
    assert "per token" in f.title and _in_fault(f)
    ev = {e.kind: e for e in f.evidence}
    assert "decode" in f.title
    assert ev["decode_ms_per_token_median"].value > 3 * ev["decode_ms_per_token_median"].baseline
    assert ev["running_batch_ratio"].value <= 1.25


def test_prefix_cache_drop_is_a_miss_storm(tmp_path: Path) -> None:
    own, ranked = _run(tmp_path, "prefix")
    # slower prefill per token is the cache's doing, not a second (compute) cause
    assert [f.category for f in own] == ["cache_miss_storm"], [(f.category, f.title) for f in own]
    assert ranked[0].category == "cache_miss_storm"
    storms = own
    f = storms[0]
    assert f.root_cause.entity == "vllm prefix cache" and f.symptom.sli == "ttft_p99_ms"
    ev = {e.kind: e for e in f.evidence}
    assert ev["prefix_cache_hit_rate"].value == pytest.approx(0.05, abs=0.02)
    assert ev["prefix_cache_hit_rate"].baseline == pytest.approx(0.8, abs=0.02)
    assert ev["ttft_ms_median"].exemplar_trace_ids and _in_fault(f)
    assert f.level in ("medium", "high")


def test_clean_vllm_run_has_no_findings(tmp_path: Path) -> None:
    own, _ = _run(tmp_path, "clean")
    assert own == [], [(f.category, f.title, f.confidence) for f in own]


def test_no_vllm_data_no_findings(tmp_path: Path) -> None:
    b = Builder(seed=3)
    from tests.analysis._synth import steady_requests

    steady_requests(b, seconds=60, rps=4)
    db = b.write(tmp_path / "plain.duckdb")
    with connect(db) as tel:
        assert _vllm.detect(Context.build(tel)) == []


def test_counter_reset_counts_new_value(tmp_path: Path) -> None:
    """vllm_steps: a restarted engine's counter (value drops) adds its new value, not a negative."""
    b = Builder(seed=1)
    b.span(b.new_id(32), "llm_request", T0, 3 * S, kind="Server", service="vllm",
           attrs={"gen_ai.latency.e2e": "3.0"})  # the window ends with the last span
    s = {"engine": "0", "model_name": "m"}
    for k, (q, h) in enumerate([(100, 50), (200, 120), (30, 20)]):
        b.gauge("vllm.prefix_cache_queries", T0 + k * S, q, s)
        b.gauge("vllm.prefix_cache_hits", T0 + k * S, h, s)
    db = b.write(tmp_path / "reset.duckdb")
    with connect(db) as tel:
        steps = tel.query("detectors/vllm_steps", step_ns=S)
    assert steps["queries"].tolist()[1:] == [100, 30] and steps["hits"].tolist()[1:] == [70, 20]
