"""What every service of the chain shares: an instrumented app, calls to peers, request-path faults.

Each service is an ordinary FastAPI app instrumented with one ``instrument_app`` call, as the
README tells a user; outgoing httpx calls get CLIENT spans and traceparent from it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from infersight.instrument import instrument_app, uninstrument_app

from benchmarks.rca.workloads._faultenv import (
    FaultPlan,
    burn_cpu,
    healthy_extras,
    peer_url,
    run_healthy_job,
    seeded_rng,
)

logger = logging.getLogger(__name__)


class Service:
    """One chain service: ``svc.app`` is what uvicorn runs; faults are read from RCA_* env vars."""

    def __init__(self, default_name: str, *, startup: Callable[[Service], Awaitable[None]] | None = None,
                 shutdown: Callable[[Service], Awaitable[None]] | None = None) -> None:
        self.name = os.environ.get("OTEL_SERVICE_NAME") or default_name
        self.plan = FaultPlan.from_env()
        self.rng = seeded_rng(self.name)
        self.extras = healthy_extras()
        self._startup, self._shutdown = startup, shutdown
        self._client: httpx.AsyncClient | None = None
        self._recent: collections.deque[list[dict[str, Any]]] = collections.deque(maxlen=24)
        self.app = FastAPI(title=self.name, lifespan=self._lifespan)
        instrument_app(self.app, service_name=self.name)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0),
                                         limits=httpx.Limits(max_connections=64))
        if self._startup is not None:
            await self._startup(self)
        job = asyncio.create_task(run_healthy_job(self.extras, seeded_rng(self.name + "/job")))
        try:
            yield
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            if self._shutdown is not None:
                await self._shutdown(self)
            await self._client.aclose()
            # uvicorn re-raises SIGTERM after its graceful shutdown, so atexit hooks never run:
            # flush the spans still queued here or lose the last second of the run
            uninstrument_app(app)

    async def call(self, peer: str, method: str, path: str, json: Any = None) -> Any:
        """A JSON call to a peer; a 5xx answer raises (and so fails this request too)."""
        assert self._client is not None, "the app's lifespan did not run"
        response = await self._client.request(method, peer_url(peer) + path, json=json)
        response.raise_for_status()
        return response.json()

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "the app's lifespan did not run"
        return self._client

    # -- faults on the request path ------------------------------------------------------
    async def slow_and_busy(self) -> None:
        """``slow_http``: this service answers later (waiting, not computing);
        ``cpu_heavy``: a code path that burns CPU on every request (its self time rises)."""
        slow = self.plan.active("slow_http", self.name)
        if slow is not None:
            delay_ms = slow.param("delay_ms", 100.0) * self.rng.uniform(0.7, 1.3)
            await asyncio.sleep(delay_ms / 1e3)
        heavy = self.plan.active("cpu_heavy", self.name)
        if heavy is not None:
            burn_cpu(heavy.param("cpu_ms", 15.0) * self.rng.uniform(0.8, 1.2))

    def defect(self) -> bool:
        """``code_defect``: whether this request takes the broken code path."""
        bug = self.plan.active("code_defect", self.name)
        return bug is not None and self.rng.random() < bug.param("error_rate", 0.2)

    def gc_storm(self, seed: int) -> int:
        """``gc_storm``: a route builds a graph with back-references (reference cycles) and keeps
        the last few for debugging, so they outlive the young generations and die old."""
        storm = self.plan.active("gc_storm", self.name)
        if storm is None:
            return 0
        n = int(storm.param("nodes", 40_000))
        nodes: list[dict[str, Any]] = [{"id": seed + i, "facets": [i, i + 1]} for i in range(n)]
        for a, b in zip(nodes, nodes[1:] + nodes[:1], strict=True):
            a["next"], b["prev"] = b, a
        self._recent.append(nodes)
        return n


__all__ = ["Service"]
