"""payments-api: a sync-heavy FastAPI payments scorer (the corpus' first workload).

Handlers are plain ``def`` (run in the threadpool): each score reads a merchant profile through
a TTL feature cache (miss: a profile call to payments-risk + a SQLite aggregate), the account's
recent transactions through a 4-connection SQLAlchemy pool, and a risk verdict over HTTP.
Instrumented only through infersight's public API plus the standard OTel SQLAlchemy
instrumentation, as the docs tell a user. Configuration comes only from the environment.
"""

from __future__ import annotations

import asyncio
import collections
import math
import os
import random
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from infersight.instrument import instrument_app, traced_cache
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ._cache import TTLMap
from ._db import MERCHANTS, Database
from ._faults import Schedule
from ._jobs import Background

SERVICE = os.environ.get("OTEL_SERVICE_NAME", "payments-api")


class State:
    def __init__(self) -> None:
        env = os.environ
        workdir = Path(env.get("RCA_WORKDIR") or tempfile.mkdtemp(prefix="rca-payments-"))
        workdir.mkdir(parents=True, exist_ok=True)
        self.sched = Schedule(SERVICE)
        self.rng = random.Random(self.sched.seed)
        self.db = Database(workdir / "payments.db", pool_size=int(env.get("PAYMENTS_POOL_SIZE", "4")),
                           timeout_s=float(env.get("PAYMENTS_POOL_TIMEOUT_S", "2")),
                           rows=int(env.get("PAYMENTS_TXNS", "150000")), seed=self.sched.seed)
        SQLAlchemyInstrumentor().instrument(engine=self.db.engine)
        self.cache_ttl_s = float(env.get("PAYMENTS_CACHE_TTL_S", "45"))
        self.cache_store = TTLMap(self.cache_ttl_s)
        self.features = traced_cache("features", cache=self.cache_store)
        self.risk_url = env.get("RCA_URL_PAYMENTS_RISK", "http://127.0.0.1:8001")
        self.http: httpx.Client | None = None
        self.gc_storm: dict[str, Any] | None = None
        self.code_defect: dict[str, Any] | None = None
        self.retained: collections.deque[Any] = collections.deque(maxlen=40)
        self.bg = Background(self.sched, self)


state = State()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    state.http = httpx.Client(base_url=state.risk_url, timeout=5.0,
                              limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
    state.bg.start()
    loop_task = asyncio.create_task(state.bg.loop_task())
    yield
    state.bg.stop.set()
    loop_task.cancel()
    state.http.close()


app = FastAPI(lifespan=lifespan)
instrument_app(app, service_name=SERVICE)


class ScoreIn(BaseModel):
    account_id: int
    amount: float = 10.0


class RefundIn(BaseModel):
    txn_id: int
    amount: float = 1.0


def _profile(merchant_id: int) -> dict[str, Any]:
    assert state.http is not None
    r = state.http.get(f"/v1/merchants/{merchant_id}/profile")
    r.raise_for_status()
    n, avg = state.db.merchant_stats(merchant_id)
    return {**r.json(), "txns": n, "avg_amount": avg}


def _allocation_burst(n: int) -> None:
    """gc_storm: a per-request object graph, part of it kept (so gen-2 keeps growing)."""
    graph = [{"i": i, "edges": [i, i + 1], "w": {"x": i}} for i in range(n)]
    state.retained.append(graph[: n // 4])


@app.exception_handler(PoolTimeout)
async def pool_timeout(_request: Any, exc: PoolTimeout) -> JSONResponse:
    return JSONResponse({"detail": "database pool exhausted"}, status_code=503, headers={"Retry-After": "1"})


@app.post("/v1/score")
def score(body: ScoreIn) -> dict[str, Any]:
    assert state.http is not None
    merchant = body.account_id % MERCHANTS + 1
    profile = state.features.get_or_load(merchant, lambda: _profile(merchant))
    account = state.db.account(body.account_id)
    if state.gc_storm:
        _allocation_burst(int(state.gc_storm["objects"]))
    r = state.http.post("/v1/risk", json={"amount": body.amount, "n30": account["n30"],
                                          "total30": account["total30"], "merchant_risk": profile["risk"]})
    r.raise_for_status()
    risk = float(r.json()["risk"])
    z = 0.8 * risk + 0.002 * body.amount - 0.0005 * account["n30"] + 0.1 * profile["avg_amount"] / 100
    return {"account_id": body.account_id, "score": round(1 / (1 + math.exp(-z)), 4), "merchant": merchant}


@app.get("/v1/accounts/{account_id}")
def account(account_id: int) -> dict[str, Any]:
    return state.db.account(account_id)


@app.post("/v1/refunds")
def refund(body: RefundIn) -> dict[str, Any]:
    defect = state.code_defect
    policy = {"amount_limit": 500.0}
    if defect and state.rng.random() < float(defect["error_rate"]):
        policy = {}  # the bad release dropped the key: KeyError below, a 500
    if body.amount > policy["amount_limit"]:
        return {"accepted": False}
    state.db.refund(body.txn_id, body.amount)
    return {"accepted": True}
