"""A small instrumented model server that exercises every signal the dashboards show.

Run as ``python tests/dashboards/_workload_app.py PORT``. One line of instrumentation
(``instrument_app``) plus infersight's job/cache/pool helpers, like a user's server:
- ``GET /predict/{model}``: a traced feature cache (hits and misses), a 2-connection pool
  acquired with a timeout (waits and timeouts under load), 5-80 ms of "inference";
- ``GET /fail``: a 500; unknown paths: 404s;
- a background ``payments_full_sync`` job every 8 s that materialises 150k dicts (gen-2 GC
  pauses) and blocks the event loop for 150 ms on every other run (loop lag, blocked samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from infersight.instrument import instrument_app, traced_cache, traced_job, traced_pool_acquire

POOL = asyncio.Semaphore(2)
features = traced_cache("features", maxsize=64)
TABLE: list[dict[str, int]] = []


async def full_sync_loop() -> None:
    run = 0
    while True:
        await asyncio.sleep(8.0)
        run += 1
        with traced_job("payments_full_sync") as job:
            rows = [{"id": i, "amount": i % 97, "user": i % 1000} for i in range(150_000)]
            TABLE[:] = rows
            job.add(rows=len(rows))
            if run % 2 == 0:
                time.sleep(0.15)  # the sync work that should have been in a thread


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(full_sync_loop())
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


@app.get("/predict/{model}")
async def predict(model: str) -> dict[str, object]:
    key = random.randint(0, 80)
    feats = features.get_or_load(key, lambda: [key * 0.5] * 16)
    try:
        with traced_pool_acquire("payments-db"):
            await asyncio.wait_for(POOL.acquire(), timeout=0.05)
    except TimeoutError:
        return JSONResponse({"error": "pool timeout"}, status_code=503)  # type: ignore[return-value]
    try:
        await asyncio.sleep(random.uniform(0.005, 0.08))
    finally:
        POOL.release()
    return {"model": model, "score": sum(feats)}


@app.get("/fail")
async def fail() -> JSONResponse:
    return JSONResponse({"error": "boom"}, status_code=500)


instrument_app(app, service_name="dashboards-workload", endpoint=None)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
