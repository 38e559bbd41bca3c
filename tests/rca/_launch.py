"""Start a corpus workload as the runner does (env vars only), drive a little load, read the DuckDB.

    with Launch(spec, tmp_path, faults=[{"family": "slow_http", "target": "pricing",
                                          "start_s": 3, "duration_s": 60, "params": {...}}]) as run:
        run.load(seconds=8, rps=15)
    rows = run.sql("SELECT ...")            # after the context: services and collector stopped

The real collector and real uvicorn processes on 127.0.0.1, stopped by PID (services first, so
their last spans reach the collector). A deliberately small stand-in for the corpus runner.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import duckdb
import httpx
from infersight.demo._procs import Child, free_port, start_collector

REPO = Path(__file__).resolve().parents[2]


class Launch:
    def __init__(self, spec: ModuleType, tmp: Path, faults: list[dict[str, Any]] | None = None,
                 healthy: dict[str, Any] | None = None, seed: int = 1, startup_s: float = 8.0) -> None:
        self.spec, self.tmp = spec, tmp
        self.faults, self.healthy, self.seed = faults or [], healthy or {}, seed
        self.db = tmp / "telemetry.duckdb"
        self.children: list[Child] = []
        self.urls: dict[str, str] = {}
        self.t0 = 0.0
        self.startup_s = startup_s
        self.statuses: list[int] = []
        self.errors: list[str] = []  # why a request got no answer (status 0)

    def __enter__(self) -> Launch:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()

    def _start(self) -> None:
        http_port = free_port()
        self.children.append(start_collector(self.db, http_port, self.tmp / "logs"))
        ports = {s["name"]: free_port() for s in self.spec.SERVICES}
        self.urls = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}
        self.t0 = time.time() + self.startup_s  # the load starts here (later if startup is slower)
        env_common = {f"RCA_URL_{n.upper().replace('-', '_')}": u for n, u in self.urls.items()}
        env_common |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
                       "RCA_FAULTS": json.dumps(self.faults), "RCA_SEED": str(self.seed),
                       "RCA_HEALTHY": json.dumps(self.healthy), "PYTHONPATH": str(REPO)}
        pending = []
        for s in self.spec.SERVICES:
            argv = [sys.executable, "-m", "uvicorn", s["app"], "--host", "127.0.0.1",
                    "--port", str(ports[s["name"]]), "--log-level", "warning", "--no-access-log"]
            child = Child(s["name"], argv, self.tmp / "logs" / f"{s['name']}.log",
                          env={**env_common, **s.get("env", {}), "RCA_T0": repr(self.t0)})
            self.children.append(child)
            pending.append((child, s["name"]))
        for child, name in pending:
            child.wait_http(f"{self.urls[name]}/healthz", timeout=90)
        time.sleep(max(0.0, self.t0 - time.time()))

    def _stop(self) -> None:
        for child in reversed(self.children):  # services (last started first), then the collector
            child.stop()

    def entry(self) -> str:
        return self.urls[getattr(self.spec, "ENTRY", self.spec.SERVICES[0]["name"])]

    def load(self, seconds: float, rps: float, concurrency: int = 128,
             bursts: Sequence[tuple[float, dict[str, Any], int]] = ()) -> list[int]:
        """Open-loop-ish load over the spec's ROUTES (weighted), plus ``bursts`` of (seconds after
        RCA_T0, route, n concurrent copies); returns the status codes (0 = no answer, see ``errors``)."""
        statuses = asyncio.run(self._load(seconds, rps, concurrency, list(bursts)))
        self.statuses += statuses
        return statuses

    async def _load(self, seconds: float, rps: float, concurrency: int,
                    bursts: list[tuple[float, dict[str, Any], int]]) -> list[int]:
        rng = random.Random(self.seed)
        routes = self.spec.ROUTES
        weights = [r["weight"] for r in routes]
        out: list[int] = []
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=self.entry(), timeout=30.0) as client:

            async def one(route: dict[str, Any]) -> None:
                async with gate:
                    path, body = _fill(route, rng)
                    try:
                        if route.get("stream"):
                            async with client.stream(route["method"], path, json=body) as r:
                                async for _ in r.aiter_bytes():
                                    pass
                                out.append(r.status_code)
                        else:
                            r = await client.request(route["method"], path, json=body)
                            out.append(r.status_code)
                    except httpx.HTTPError as exc:
                        out.append(0)
                        self.errors.append(f"{route['path']}: {type(exc).__name__}: {exc}")

            tasks = []
            start = time.monotonic()
            late = time.time() - self.t0  # bursts keep RCA_T0 as their origin, like the faults
            schedule = [(i / rps, [rng.choices(routes, weights)[0]]) for i in range(int(seconds * rps))]
            schedule += [(at - late, [route] * n) for at, route, n in bursts]
            for at, batch in sorted(schedule, key=lambda x: x[0]):
                delay = start + at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks += [asyncio.create_task(one(route)) for route in batch]
            await asyncio.gather(*tasks)
        return out

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(query, params or []).fetchall()


def _fill(route: dict[str, Any], rng: random.Random) -> tuple[str, Any]:
    """The route's ``vary`` keys, log-uniform over [lo, hi] (a few hot keys, a long tail, as the corpus
    load does): ``{key}`` in the path, top-level keys of the body."""
    values = {k: min(int(hi), int(lo) + int((int(hi) - int(lo) + 1) ** rng.random()) - 1)
              for k, (lo, hi) in sorted(route.get("vary", {}).items())}
    path = route["path"]
    for k, v in values.items():
        path = path.replace("{" + k + "}", str(v))
    body = route.get("json")
    if isinstance(body, dict) and values:
        body = {k: (type(v)(values[k]) if k in values else v) for k, v in body.items()}
    return path, body


__all__ = ["Launch"]
