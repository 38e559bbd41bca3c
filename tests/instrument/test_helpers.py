"""traced_job, traced_cache / lru_cached and traced_pool_acquire against real SDK providers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from infersight.instrument import (
    current_job,
    key_hash,
    lru_cached,
    traced_cache,
    traced_job,
    traced_pool_acquire,
)
from opentelemetry.trace import SpanKind, StatusCode

from tests.instrument.conftest import Providers


def _kw(p: Providers) -> dict[str, Any]:
    return {"tracer_provider": p.tracer_provider, "meter_provider": p.meter_provider, "registry": p.registry}


def test_job_decorator_sync_makes_a_root_span_with_rows(providers: Providers) -> None:
    @traced_job("payments_full_sync", **_kw(providers))
    def pull() -> list[int]:
        assert current_job() is not None and current_job().name == "payments_full_sync"  # type: ignore[union-attr]
        current_job().bytes = 4096  # type: ignore[union-attr]
        return list(range(500))

    tracer = providers.tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("some request"):
        assert len(pull()) == 500
    (span,) = [s for s in providers.spans.get_finished_spans() if s.name == "payments_full_sync"]
    assert span.kind == SpanKind.INTERNAL and span.parent is None, "jobs are roots, not request children"
    assert span.attributes["infersight.job.name"] == "payments_full_sync"
    assert span.attributes["infersight.job.rows"] == 500
    assert span.attributes["infersight.job.bytes"] == 4096
    reg = providers.registry
    assert reg.get_sample_value("infersight_job_rows_total", {"job_name": "payments_full_sync"}) == 500
    assert reg.get_sample_value("infersight_job_duration_seconds_count",
                                {"job_name": "payments_full_sync", "status": "ok"}) == 1
    assert current_job() is None


def test_job_async_decorator_and_context_managers(providers: Providers) -> None:
    @traced_job("refresh", **_kw(providers))
    async def refresh() -> int:
        await asyncio.sleep(0)
        current_job().add(rows=7)  # type: ignore[union-attr]
        return 3

    async def main() -> None:
        assert await refresh() == 3
        async with traced_job("loop_tick", **_kw(providers)) as job:
            job.rows = 2
            job.attributes["batch"] = "b1"

    asyncio.run(main())
    with traced_job("cm", **_kw(providers)) as job:
        job.add(rows=1, nbytes=10)
    spans = {s.name: s for s in providers.spans.get_finished_spans()}
    assert spans["refresh"].attributes["infersight.job.rows"] == 7  # explicit rows win over the result
    assert spans["loop_tick"].attributes["batch"] == "b1"
    assert spans["cm"].attributes["infersight.job.bytes"] == 10
    assert "infersight.job.duration" in providers.otel_metrics()


def test_failing_job_is_recorded_and_reraised(providers: Providers) -> None:
    @traced_job("bad", **_kw(providers))
    def bad() -> None:
        raise ValueError("table locked")

    with pytest.raises(ValueError, match="table locked"):
        bad()
    (span,) = providers.spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert providers.registry.get_sample_value("infersight_job_duration_seconds_count",
                                               {"job_name": "bad", "status": "error"}) == 1
    with pytest.raises(ValueError):
        traced_job("")


def test_cache_get_or_load_records_hits_misses_and_miss_latency(providers: Providers) -> None:
    cache = traced_cache("features", maxsize=2, **_kw(providers))
    loads: list[str] = []

    def loader(k: str) -> Any:
        def load() -> str:
            loads.append(k)
            return k.upper()
        return load

    assert cache.get_or_load("a", loader("a")) == "A"
    assert cache.get_or_load("a", loader("a")) == "A"
    assert cache.get_or_load("b", loader("b")) == "B"
    assert cache.get_or_load("c", loader("c")) == "C"   # evicts "a" (maxsize=2)
    assert cache.get_or_load("a", loader("a")) == "A"
    assert loads == ["a", "b", "c", "a"]
    spans = [s for s in providers.spans.get_finished_spans() if s.name == "cache.lookup features"]
    assert [s.attributes["cache.hit"] for s in spans] == [False, True, False, False, False]
    assert spans[0].attributes["cache.key_hash"] == key_hash("a") != key_hash("b")
    assert spans[0].attributes["cache.name"] == "features"
    assert "infersight.cache.miss_ms" in spans[0].attributes and "infersight.cache.miss_ms" not in spans[1].attributes
    reg = providers.registry
    assert reg.get_sample_value("infersight_cache_requests_total", {"cache": "features", "result": "miss"}) == 4
    assert reg.get_sample_value("infersight_cache_requests_total", {"cache": "features", "result": "hit"}) == 1
    assert reg.get_sample_value("infersight_cache_miss_duration_seconds_count", {"cache": "features"}) == 4


def test_cache_lookup_recorder_for_external_caches(providers: Providers) -> None:
    cache = traced_cache("redis", spans="misses", cache={}, **_kw(providers))
    store = {"k1": "v1"}
    for key in ("k1", "k2"):
        with cache.lookup(key) as lk:
            value = store.get(key)
            if value is None:
                lk.miss()
                store[key] = "loaded"
    spans = providers.spans.get_finished_spans()
    assert [s.attributes["cache.hit"] for s in spans] == [False], "spans='misses' keeps only misses"
    assert providers.registry.get_sample_value("infersight_cache_requests_total",
                                               {"cache": "redis", "result": "hit"}) == 1
    with pytest.raises(ValueError, match="spans"):
        traced_cache("x", spans="some")  # type: ignore[arg-type]


def test_lru_cached_decorates_sync_and_async_functions(providers: Providers) -> None:
    calls: list[Any] = []

    @lru_cached("embed", maxsize=8, **_kw(providers))
    def embed(text: str, *, dim: int = 2) -> tuple[str, int]:
        calls.append((text, dim))
        return text, dim

    @lru_cached("aembed", **_kw(providers))
    async def aembed(text: str) -> str:
        calls.append(text)
        await asyncio.sleep(0)
        return text * 2

    assert embed("x") == embed("x") == ("x", 2)
    assert embed("x", dim=3) == ("x", 3)
    assert asyncio.run(aembed("y")) == asyncio.run(aembed("y")) == "yy"
    assert calls == [("x", 2), ("x", 3), "y"]
    reg = providers.registry
    assert reg.get_sample_value("infersight_cache_requests_total", {"cache": "embed", "result": "hit"}) == 1
    assert reg.get_sample_value("infersight_cache_requests_total", {"cache": "aembed", "result": "hit"}) == 1


def test_pool_acquire_wait_and_timeouts(providers: Providers) -> None:
    pool: asyncio.Queue[str] | None = None

    async def main() -> None:
        nonlocal pool
        pool = asyncio.Queue()
        pool.put_nowait("conn1")
        async with traced_pool_acquire("payments-db", **_kw(providers)):
            conn = await pool.get()
        assert conn == "conn1"
        with pytest.raises(asyncio.TimeoutError):
            async with traced_pool_acquire("payments-db", **_kw(providers)):
                await asyncio.wait_for(pool.get(), 0.05)

    asyncio.run(main())
    spans = [s for s in providers.spans.get_finished_spans() if s.name == "pool.acquire"]
    assert len(spans) == 2
    assert spans[0].attributes["db.client.connection.pool.name"] == "payments-db"
    assert spans[1].status.status_code == StatusCode.ERROR
    assert spans[1].attributes["db.client.connection.wait_time"] >= 0.05
    reg = providers.registry
    assert reg.get_sample_value("db_client_connection_timeouts_total", {"pool_name": "payments-db"}) == 1
    assert reg.get_sample_value("db_client_connection_wait_time_seconds_count", {"pool_name": "payments-db"}) == 2
    assert "db.client.connection.wait_time" in providers.otel_metrics()


def test_helpers_never_fail_the_caller_when_recording_breaks(providers: Providers,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from infersight.instrument.helpers import _sinks as _providers

    def broken(self: Any) -> Any:
        raise RuntimeError("registry gone")

    monkeypatch.setattr(_providers.Sinks, "prom", property(broken))

    @traced_job("j", **_kw(providers))
    def job() -> int:
        return 1

    assert job() == 1
    assert traced_cache("c", **_kw(providers)).get_or_load("k", lambda: 5) == 5
    with traced_pool_acquire("p", **_kw(providers)):
        pass


def test_one_job_and_pool_instance_can_be_entered_concurrently(providers: Providers) -> None:
    job = traced_job("shared", **_kw(providers))
    acquire = traced_pool_acquire("shared-pool", **_kw(providers))

    async def run(i: int, delay: float) -> None:
        async with job as handle:
            async with acquire:
                await asyncio.sleep(delay)
            handle.rows = i

    async def main() -> None:
        await asyncio.gather(run(1, 0.03), run(2, 0.0), run(3, 0.01))

    asyncio.run(main())
    jobs = [s for s in providers.spans.get_finished_spans() if s.name == "shared"]
    assert sorted(s.attributes["infersight.job.rows"] for s in jobs) == [1, 2, 3]
    pools = [s for s in providers.spans.get_finished_spans() if s.name == "pool.acquire"]
    waits = sorted(s.attributes["db.client.connection.wait_time"] for s in pools)
    assert len(waits) == 3 and waits[-1] >= 0.03
