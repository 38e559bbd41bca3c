"""The server's periodic jobs, each a ``traced_job``; two of them carry faults.

- ``rebuild_vocab_index`` (``loop_block_job``): rebuilds a 300k-entry dict ON the event loop,
  ``block_ms`` at a time every ``period_s``: every request waits. ``job_in_thread`` is the same
  job moved to ``asyncio.to_thread``: still a fault (the CPU-bound thread takes the GIL and its
  garbage brings gen-2 pauses: clients saw P99 x14 while it ran when this was labelled "the
  fix"). ``loop_block_fixed`` runs it in a low-priority worker process that keeps the index
  and hands back its size (the fix for CPU-bound Python on a shared box: its own interpreter,
  GIL and GC, and the server's threads first for the CPU - at normal priority the worker still
  doubled P99 while it ran on this 2-core machine): a healthy run.
- ``refresh_adapter_index`` (``gc_job``): reloads ``objects`` small containers in a worker
  thread and keeps them until the next run; the old ones die old, so gen-2 collections (which
  stop every thread, the event loop included) follow each run.
- ``kv_stats_rollup``: a cheap, harmless job every 10 s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from infersight.instrument import traced_job

from benchmarks.rca.workloads._faultenv import FaultPlan

INDEX_ENTRIES = 300_000


class JobState:
    def __init__(self) -> None:
        self.vocab_index: dict[str, tuple[int, int]] = {}
        self.adapters: list[dict[str, Any]] = []
        self.stats: dict[str, int] = {"requests": 0, "tokens": 0}
        self.rollups = 0


def build_vocab_index(block_ms: float) -> dict[str, tuple[int, int]]:
    """Rebuild the index; passes repeat until ``block_ms`` of wall time is spent (as a bigger index would)."""
    end = time.perf_counter() + block_ms / 1e3
    while True:
        index = {f"tok{i}": (i, i % 97) for i in range(INDEX_ENTRIES)}
        if time.perf_counter() >= end:
            return index


def load_adapters(objects: int) -> list[dict[str, Any]]:
    return [{"id": i, "rank": [i % 8, i % 16]} for i in range(objects // 2)]


async def _wait_for(plan: FaultPlan, *families: str) -> Any:
    while True:
        for family in families:
            fault = plan.active(family)
            if fault is not None:
                return fault
        await asyncio.sleep(0.25)


def build_vocab_index_size(block_ms: float) -> int:
    """In the worker process: build the index there (it serves lookups from there) and return its size."""
    global _WORKER_INDEX
    _WORKER_INDEX = build_vocab_index(block_ms)
    return len(_WORKER_INDEX)


_WORKER_INDEX: dict[str, tuple[int, int]] = {}


async def vocab_index_loop(state: JobState, plan: FaultPlan, rng: random.Random) -> None:
    job = traced_job("rebuild_vocab_index")
    pool: ProcessPoolExecutor | None = None
    while True:
        fault = await _wait_for(plan, "loop_block_job", "job_in_thread", "loop_block_fixed")
        block_ms = fault.param("block_ms", 1000.0) * rng.uniform(0.85, 1.15)
        async with job as run:
            if fault.family == "loop_block_job":
                index = build_vocab_index(block_ms)  # the bug: CPU-bound work on the event loop
                run.rows = len(index)
                state.vocab_index = index
            elif fault.family == "job_in_thread":  # off the loop, not off the GIL
                index = await asyncio.to_thread(build_vocab_index, block_ms)
                run.rows = len(index)
                state.vocab_index = index
            else:  # the fix: another process (its own interpreter, GIL and GC), at low priority
                if pool is None:
                    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=os.nice, initargs=(19,))
                run.rows = await asyncio.get_running_loop().run_in_executor(pool, build_vocab_index_size, block_ms)
        await asyncio.sleep(fault.param("period_s", 12.0) * rng.uniform(0.9, 1.1))


async def adapter_index_loop(state: JobState, plan: FaultPlan, rng: random.Random) -> None:
    job = traced_job("refresh_adapter_index")
    while True:
        fault = await _wait_for(plan, "gc_job")
        async with job as run:
            fresh = await asyncio.to_thread(load_adapters, int(fault.param("objects", 800_000)))
            state.adapters = fresh  # the previous list (and its dicts) is garbage now
            run.rows = len(fresh)
        await asyncio.sleep(fault.param("period_s", 10.0) * rng.uniform(0.9, 1.1))


async def stats_rollup_loop(state: JobState, period_s: float = 10.0) -> None:
    job = traced_job("kv_stats_rollup")
    while True:
        await asyncio.sleep(period_s)
        async with job as run:
            run.rows = sum(state.stats.values())
            state.rollups += 1


__all__ = ["JobState", "adapter_index_loop", "build_vocab_index", "stats_rollup_loop", "vocab_index_loop"]
