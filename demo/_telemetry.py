"""The demo's telemetry wiring: infersight.instrument's public API, used as any user would.

This is the one module of the demo that talks to :mod:`infersight.instrument`. The gen_ai
spans (``chat {model}``, ``gen_ai.queue|prefill|decode``) are written with the plain OTel API
in ``_server.py``, as a model-server author would write them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import infersight.instrument as instrument
from infersight.demo._pool import ConnectionPool

log = logging.getLogger(__name__)


def setup(service_name: str, endpoint: str | None, *, export_interval_s: float = 2.0,
          process_role: str = "model-server") -> instrument.TelemetryProviders:
    """``infersight.instrument.configure`` with the collector endpoint; returns its handle."""
    return instrument.configure(service_name, endpoint=endpoint or None, export_interval_s=export_interval_s,
                                process_role=process_role)


def instrument_service(app: Any, service_name: str, *, gpu: bool = False, **providers: Any) -> None:
    """The one line: ``instrument_app(app, service_name=...)`` (``providers``: injected ones, for tests);
    ``gpu``: the GPU plane too (NVML at 10 Hz, per-request energy/GPU-seconds/cost on spans)."""
    instrument.instrument_app(app, service_name=service_name, gpu=gpu, **providers)


def job_runner(**providers: Any) -> Callable[[str, Callable[[], int]], int]:
    """Wrap each scheduled-job run in ``traced_job(name)`` (root span + duration/rows metrics)."""
    jobs: dict[str, instrument.traced_job] = {}

    def run(name: str, fn: Callable[[], int]) -> int:
        job = jobs.get(name)
        if job is None:
            job = jobs[name] = instrument.traced_job(name, **providers)
        with job as handle:
            rows = fn()
            handle.rows = rows
            return rows

    return run


def traced_cache(name: str, **providers: Any) -> instrument.TracedCache:
    """A cache recorder (``lookup(key)`` / ``lk.miss()``) for a cache the app owns."""
    return instrument.traced_cache(name, **providers)


def generation(*, ttft_s: float | None, input_tokens: int, output_tokens: int, model: str,
               **providers: Any) -> None:
    """TTFT and token counts as gen_ai metrics (``record_generation``), for the overview's Generation row."""
    instrument.record_generation(ttft_s=ttft_s, input_tokens=input_tokens, output_tokens=output_tokens,
                                 model=model, meter_provider=providers.get("meter_provider"),
                                 registry=providers.get("registry"))


@asynccontextmanager
async def pooled(pool: ConnectionPool, **providers: Any) -> AsyncIterator[Any]:
    """A pooled connection; the wait is traced (``pool.acquire`` span + wait-time histogram)."""
    async with instrument.traced_pool_acquire(pool.name, **providers):
        conn = await pool.acquire_async()
    try:
        yield conn
    finally:
        pool.release(conn)


__all__ = ["generation", "instrument_service", "job_runner", "pooled", "setup", "traced_cache"]
