"""The load generator is open loop: a server stall shows up in every request scheduled during it."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import FastAPI
from infersight.demo import ConfigError, LoadConfig, run_load

from tests.demo.conftest import serve


def stalling_app(stall_at: float, stall_s: float) -> FastAPI:
    app = FastAPI()
    state = {"t0": None, "stalled": False}

    @app.post("/v1/chat/completions")
    async def chat() -> dict[str, str]:
        now = time.monotonic()
        state["t0"] = state["t0"] or now
        if not state["stalled"] and now - state["t0"] >= stall_at:
            state["stalled"] = True
            time.sleep(stall_s)  # blocks the event loop: nothing else is served meanwhile
        return {"ok": "yes"}

    @app.post("/v1/embeddings")
    async def emb() -> dict[str, str]:
        return await chat()

    return app


@pytest.mark.integration
def test_latency_counts_from_the_scheduled_time(port: int) -> None:
    with serve(stalling_app(stall_at=0.5, stall_s=2.0), port) as url:
        cfg = LoadConfig(url=url, rate=20, duration=3.0, seed=1)
        summary = asyncio.run(run_load(cfg))
    assert summary.ok == summary.requests > 30
    slow = [t for t in summary.timeline if t["p50_ms"] is not None and t["p50_ms"] > 500]
    # a closed-loop client would record ONE slow request; open loop: everything sent during the stall
    assert sum(t["n"] for t in slow) >= 10
    assert summary.latency_ms["max"] is not None and summary.latency_ms["max"] >= 1500
    assert summary.latency_ms["p99"] is not None and summary.latency_ms["p99"] >= 1000


@pytest.mark.integration
def test_unreachable_server_counts_errors_and_loses_nothing(port: int) -> None:
    cfg = LoadConfig(url=f"http://127.0.0.1:{port}", rate=20, duration=0.5, seed=2, timeout=2)
    summary = asyncio.run(run_load(cfg))
    assert summary.ok == 0 and summary.requests > 0
    assert sum(summary.errors.values()) == summary.requests


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="rate"):
        LoadConfig(url="http://127.0.0.1:1", rate=0)
    with pytest.raises(ConfigError, match="URL"):
        LoadConfig(url="localhost:8000")


def test_ramp_and_mix_are_deterministic() -> None:
    cfg = LoadConfig(url="http://x", rate=5, ramp_to=15, duration=10, seed=4)
    assert cfg.rate_at(0) == 5 and cfg.rate_at(5) == 10 and cfg.rate_at(10) == 15
    from infersight.demo._load import _Mix

    a = [_Mix(cfg).next() for _ in range(1)]
    b = [_Mix(cfg).next() for _ in range(1)]
    assert a == b
    kinds = {_Mix(LoadConfig(url="http://x", seed=s)).next()[0] for s in range(60)}
    assert kinds == {"hot", "chat", "stream", "embed"}
