"""Which job blocked the loop: every way a job can run, with and without the stack watchdog.

In-process: a real asyncio loop, the real monitor and tracer provider (in-memory exporter).
The blocks are sleeps we control; assertions are on names, parents and bounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from infersight.instrument import traced_job
from infersight.instrument.export._processor import dropped_spans_total
from infersight.instrument.runtime._loop import LoopLagMonitor
from infersight.instrument.runtime._loopblocks import BlockExporter, tracker_for_current_thread
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import Providers

BLOCK_S = 0.25  # the watchdog samples every 10 ms from 40 ms past due: many chances on a busy box


def _run(providers: Providers, body: Callable[[], Any], *, stack: bool) -> tuple[LoopLagMonitor, list[Any]]:
    mon = LoopLagMonitor(tracer=providers.tracer_provider.get_tracer("t"), interval_s=0.02,
                         blocked_threshold_s=0.08, capture_stack=stack)

    async def main() -> None:
        mon.start()
        await asyncio.sleep(0.05)
        await body()
        await asyncio.sleep(0.1)  # the timer sees the block; the watch thread exports it
        mon.stop()

    asyncio.run(main())
    spans = providers.spans.get_finished_spans()
    return mon, [s for s in spans if s.name == "event_loop.blocked"]


def _job(providers: Providers, name: str) -> traced_job:
    return traced_job(name, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider,
                      registry=CollectorRegistry())


def _check(providers: Providers, blocks: list[Any], name: str | None, attribution: str) -> Any:
    assert len(blocks) == 1, [b.attributes for b in blocks]
    (block,) = blocks
    assert block.attributes["infersight.loop.blocked_ms"] >= BLOCK_S * 1e3 - 1
    assert block.attributes["infersight.loop.blocked_ms"] <= block.attributes["infersight.loop.lag_ms"] + 20 + 1
    if name is None:
        assert "infersight.job.name" not in block.attributes and block.parent is None
        return block
    (job,) = [s for s in providers.spans.get_finished_spans() if s.name == name]
    assert block.attributes["infersight.job.name"] == name
    assert block.attributes["infersight.job.attribution"] == attribution
    assert block.parent is not None and block.parent.span_id == job.context.span_id
    assert block.context.trace_id == job.context.trace_id
    return block


@pytest.mark.parametrize("stack", [False, True])
def test_decorated_sync_job_on_the_loop(providers: Providers, stack: bool) -> None:
    @_job(providers, "full_sync")
    def full_sync() -> None:
        time.sleep(BLOCK_S)

    async def body() -> None:
        full_sync()

    _, blocks = _run(providers, body, stack=stack)
    block = _check(providers, blocks, "full_sync", "stack" if stack else "overlap")
    assert ("full_sync" in block.attributes["code.stacktrace"]) if stack else \
        ("code.stacktrace" not in block.attributes)


def test_with_block_and_async_with_block_are_named_from_the_stack(providers: Providers) -> None:
    job = _job(providers, "rebuild")

    async def body() -> None:
        with job:
            time.sleep(BLOCK_S)
        await asyncio.sleep(0.1)
        async with job:
            await asyncio.sleep(0.01)
            time.sleep(BLOCK_S)  # the sync part of an async job
            await asyncio.sleep(0.01)

    _, blocks = _run(providers, body, stack=True)
    assert len(blocks) == 2
    for block in blocks:
        assert block.attributes["infersight.job.name"] == "rebuild"
        assert block.attributes["infersight.job.attribution"] == "stack"


def test_an_innocent_job_awaiting_elsewhere_is_not_blamed_when_the_stack_is_known(providers: Providers) -> None:
    innocent = _job(providers, "innocent_poll")

    @innocent
    async def poll() -> None:
        await asyncio.sleep(0.6)

    async def body() -> None:
        task = asyncio.create_task(poll())
        await asyncio.sleep(0.05)
        time.sleep(BLOCK_S)  # not a job: a handler's sync call
        await task

    _, blocks = _run(providers, body, stack=True)
    _check(providers, blocks, None, "")


def test_jobs_in_worker_threads_are_not_tracked(providers: Providers) -> None:
    @_job(providers, "threaded")
    def threaded() -> Any:
        return tracker_for_current_thread()

    async def body() -> None:
        assert await asyncio.to_thread(threaded) is None
        time.sleep(BLOCK_S)

    _, blocks = _run(providers, body, stack=False)
    _check(providers, blocks, None, "")


def test_a_stopped_monitor_flags_no_request_and_forgets_its_loop(providers: Providers) -> None:
    mon = LoopLagMonitor(interval_s=0.02, blocked_threshold_s=0.05)
    assert mon.queued_since(time.perf_counter_ns()) is None  # never started: nothing is overdue

    async def main() -> None:
        mon.start()
        assert tracker_for_current_thread() is mon.jobs
        await asyncio.sleep(0.03)
        time.sleep(0.1)
        # the loop is back from a block and the timer has not run yet: this request waited
        assert mon.queued_since(time.perf_counter_ns()) is not None
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert mon.window is not None  # the timer saw it: the burst right after is flagged too
        await asyncio.sleep(0.05)
        assert mon.window is None
        mon.stop()
        assert tracker_for_current_thread() is None
        assert mon.queued_since(time.perf_counter_ns()) is None

    asyncio.run(main())
    assert mon.blocked_count == 1


def test_blocks_beyond_the_ring_are_counted_as_dropped(providers: Providers) -> None:
    exporter = BlockExporter(providers.tracer_provider.get_tracer("t"), ring_size=4)
    before = dropped_spans_total()
    now = time.time_ns()
    for i in range(10):
        exporter.push((now + i, now + i + 1000, 0.001, 0.001, "", None, ""))
    assert exporter.drain() == 4
    assert exporter.lost == 6 and dropped_spans_total() - before == 6
    assert len([s for s in providers.spans.get_finished_spans() if s.name == "event_loop.blocked"]) == 4


def test_the_loop_thread_writes_one_tuple_per_block(providers: Providers) -> None:
    # the span is made by the watch thread, not on the loop: record() only fills the ring
    mon = LoopLagMonitor(tracer=providers.tracer_provider.get_tracer("t"), interval_s=0.02,
                         blocked_threshold_s=0.05)
    mon.record(0.2)
    assert mon.blocks is not None and mon.blocks.pending
    assert [s for s in providers.spans.get_finished_spans() if s.name == "event_loop.blocked"] == []
    mon.blocks.drain()
    (span,) = [s for s in providers.spans.get_finished_spans() if s.name == "event_loop.blocked"]
    assert span.attributes["infersight.loop.lag_ms"] == pytest.approx(200, abs=0.01)
