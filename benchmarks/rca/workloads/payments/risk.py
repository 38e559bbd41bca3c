"""payments-risk: the HTTP dependency of payments-api (risk verdicts and merchant profiles).

``/v1/risk`` is a small logistic model; ``/v1/merchants/{id}/profile`` stands for a feature
store scan (a few hundred ms, at most two at a time). The ``slow_http`` fault adds
``extra_ms`` (+-30 % jitter) to every risk verdict while it is on.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from typing import Any

from fastapi import FastAPI
from infersight.instrument import instrument_app
from pydantic import BaseModel

from ._faults import Schedule

SERVICE = os.environ.get("OTEL_SERVICE_NAME", "payments-risk")
sched = Schedule(SERVICE)
rng = random.Random(sched.seed + 1)
scans = asyncio.Semaphore(2)

app = FastAPI()
instrument_app(app, service_name=SERVICE)


class RiskIn(BaseModel):
    amount: float
    n30: int
    total30: float
    merchant_risk: float


@app.post("/v1/risk")
async def risk(body: RiskIn) -> dict[str, Any]:
    z = -2.0 + 0.004 * body.amount + 0.01 * body.n30 - 0.0001 * body.total30 + body.merchant_risk
    for _ in range(200):  # a few hundred microseconds of model evaluation
        z = z * 0.999 + 0.001 * math.tanh(z)
    await asyncio.sleep(0.002)
    slow = sched.active("slow_http")
    if slow:
        await asyncio.sleep(float(slow["extra_ms"]) / 1000 * rng.uniform(0.7, 1.3))
    return {"risk": round(1 / (1 + math.exp(-z)), 4)}


@app.get("/v1/merchants/{merchant_id}/profile")
async def profile(merchant_id: int) -> dict[str, Any]:
    async with scans:
        await asyncio.sleep(rng.uniform(0.25, 0.45))
    return {"merchant_id": merchant_id, "risk": round(0.1 + (merchant_id % 5) * 0.05, 3)}
