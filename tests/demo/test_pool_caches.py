"""The bounded pool (threads + asyncio, FIFO, timeouts, resize) and the cache policies."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from infersight.demo import ConnectionPool, PoolTimeout
from infersight.demo._caches import CachePolicy, TTLCache


class Conn:
    closed = 0

    def close(self) -> None:
        Conn.closed += 1


def test_pool_bounds_connections_and_times_out() -> None:
    made: list[Conn] = []
    pool = ConnectionPool(lambda: made.append(Conn()) or made[-1], size=2, timeout=0.2)
    a, b = pool.acquire(), pool.acquire()
    with pytest.raises(PoolTimeout, match="payments_db"):
        pool.acquire()
    assert len(made) == 2 and pool.in_use == 2
    pool.release(a)
    assert pool.acquire() is a  # reused, not a third connection
    pool.release(a)
    pool.release(b)


def test_release_hands_over_to_the_oldest_waiter_across_threads_and_tasks() -> None:
    pool = ConnectionPool(Conn, size=1, timeout=5)

    async def main() -> list[str]:
        order: list[str] = []
        held = await pool.acquire_async()

        def thread_waiter() -> None:
            c = pool.acquire()
            order.append("thread")
            pool.release(c)

        t = threading.Thread(target=thread_waiter)
        t.start()
        while pool.waiting < 1:
            await asyncio.sleep(0.01)

        async def task_waiter() -> None:
            async with pool.connection_async():
                order.append("task")

        task = asyncio.create_task(task_waiter())
        while pool.waiting < 2:
            await asyncio.sleep(0.01)
        pool.release(held)
        await task
        await asyncio.to_thread(t.join)
        return order

    assert asyncio.run(main()) == ["thread", "task"]


def test_timed_out_waiters_do_not_block_later_acquirers() -> None:
    pool = ConnectionPool(Conn, size=1, timeout=0.1)

    async def main() -> None:
        held = await pool.acquire_async()
        with pytest.raises(PoolTimeout):
            await pool.acquire_async()
        pool.release(held)
        c = await pool.acquire_async(timeout=0.5)  # the dead waiter must not be served first
        pool.release(c)

    asyncio.run(main())


def test_resize_shrinks_and_grows() -> None:
    pool = ConnectionPool(Conn, size=3, timeout=0.1)
    conns = [pool.acquire() for _ in range(3)]
    pool.resize(1)
    for c in conns:
        pool.release(c)
    one = pool.acquire()
    with pytest.raises(PoolTimeout):
        pool.acquire()
    pool.resize(2)
    two = pool.acquire()
    pool.release(one)
    pool.release(two)


def test_ttl_cache_expires_and_evicts_lru() -> None:
    now = [1000.0]
    c = TTLCache(capacity=2, clock=lambda: now[0])
    c.set("a", 1, ttl=5)
    c.set("b", 2, ttl=5)
    assert c.get("a") == 1
    c.set("c", 3, ttl=5)  # evicts b (least recently used)
    assert c.get("b") is None and c.get("a") == 1
    now[0] += 5
    assert c.get("a") is None


def test_stampede_policy_aligns_expiry_and_fixed_policy_jitters() -> None:
    now = [1003.2]
    bad = CachePolicy(ttl=4, stampede=True, clock=lambda: now[0])
    good = CachePolicy(ttl=4, jitter=0.3, clock=lambda: now[0])
    assert {bad.deadline() for _ in range(10)} == {1004.0}
    assert len({good.deadline() for _ in range(10)}) == 10


@pytest.mark.parametrize("stampede,expected_loads", [(False, 1), (True, 8)])
def test_single_flight_loads_once_unless_stampede(stampede: bool, expected_loads: int) -> None:
    policy = CachePolicy(stampede=stampede)
    loads = 0

    async def loader() -> str:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return "v"

    async def main() -> list[tuple[str, bool]]:
        return await asyncio.gather(*(policy.load("k", loader) for _ in range(8)))

    results = asyncio.run(main())
    assert loads == expected_loads
    assert all(v == "v" for v, _ in results)
    assert sum(shared for _, shared in results) == 8 - expected_loads


def test_pool_wait_is_real_time() -> None:
    pool = ConnectionPool(Conn, size=1, timeout=2)
    held = pool.acquire()
    threading.Timer(0.3, pool.release, args=(held,)).start()
    t0 = time.perf_counter()
    c = pool.acquire()
    assert time.perf_counter() - t0 >= 0.25
    pool.release(c)


def test_an_overrunning_sync_job_is_never_run_back_to_back() -> None:
    """A run longer than its period (a slow, busy machine) is followed by half a period of rest,
    so there is always time between runs (tests/demo/test_faults.py compares requests that
    overlap a run with those that do not: back-to-back runs left none of the latter)."""
    import threading
    import time

    from infersight.demo._payments import Scheduler

    times: list[tuple[float, float]] = []
    done = threading.Event()

    def slow_run(name: str, fn: object) -> int:
        t0 = time.monotonic()
        time.sleep(0.3)  # longer than the 0.2 s period
        times.append((t0, time.monotonic()))
        if len(times) >= 4:
            done.set()
        return 0

    sched = Scheduler(store=type("S", (), {"job_name": "j", "sync_once": lambda self: 0})(), period=0.2,
                      run_job=slow_run)
    sched.start()
    try:
        assert done.wait(30)
    finally:
        sched.stop()
    gaps = [b[0] - a[1] for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= 0.1 - 0.01 for g in gaps), gaps  # waits only get longer on a busy machine
