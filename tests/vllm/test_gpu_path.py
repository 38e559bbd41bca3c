"""The plugin's NVML path (sampler + token-share ledger + span enrichment) on a fake GPU.

Runs tests/vllm/gpu_nvml_check.py --fake in its own process (it installs global providers the
way the API server does). The same script ran on a real H100: benchmarks/results/vllm_h100*.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("gpu_nvml_check.py")


@pytest.fixture(scope="module")
def result() -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--fake"], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "INFERSIGHT_GPU_PRICE_PER_HOUR": "3.6"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_every_request_span_carries_gpu_energy_seconds_and_cost(result: dict) -> None:
    reqs = result["requests"]
    assert set(reqs) == {"seq-0", "seq-1", "seq-2", "batch-a", "batch-b"}
    for r in reqs.values():
        assert r["split"] == "tokens" and r["tokens"] > 0
        assert r["energy_j"] > 0 and r["seconds"] > 0
        assert r["cost_usd"] == pytest.approx(r["seconds"] * 3.6 / 3600)
    # alone on the GPU: the whole window; the fake GPU draws 300 W while busy
    longest = reqs["seq-2"]
    assert longest["share"] == 1.0 and longest["seconds"] == pytest.approx(longest["wall_s"], rel=0.01)
    assert 0.5 * 300 * longest["wall_s"] < longest["energy_j"] < 1.2 * 300 * longest["wall_s"]


def test_batched_requests_split_by_their_tokens(result: dict) -> None:
    a, b = result["requests"]["batch-a"], result["requests"]["batch-b"]
    assert a["share"] == pytest.approx(a["tokens"] / (a["tokens"] + b["tokens"]), abs=0.02)
    assert a["share"] + b["share"] <= 1.0 + 1e-9
    assert a["energy_j"] / b["energy_j"] == pytest.approx(a["tokens"] / b["tokens"], rel=0.05)


def test_gpu_metrics_are_exported_with_the_sampler_up(result: dict) -> None:
    metrics = result["gpu_metrics"]
    assert metrics["infersight.gpu.up"] == 1.0
    assert {"hw.power", "hw.gpu.utilization", "hw.gpu.memory.usage"} <= set(metrics)
