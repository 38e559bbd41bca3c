"""A realistic request (the payments service's shape): pool acquire, two DB queries, a cache
lookup and an outbound HTTP call, one variant per process (INFERSIGHT_BENCH_VARIANT).

bare        no telemetry
contrib     OTel contrib as its docs tell a user: FastAPIInstrumentor, SQLite3Instrumentor,
            HTTPXClientInstrumentor, hand-made spans for the pool acquire and the cache lookup
            (the OTel API; contrib has no instrumentation for an app's own pool or cache), SDK
            BatchSpanProcessor + PeriodicExportingMetricReader exporting OTLP/HTTP to the sink
infersight  instrument_app(app, ...) (traces + RED metrics + GC + loop lag; httpx traced by
            instrument_clients), traced_pool_acquire, traced_cache(...).observe, SQLite3Instrumentor

Six spans per request in both instrumented variants: SERVER, pool acquire, two queries, cache
lookup, HTTP CLIENT (contrib's default also adds its ``http send``/``http receive`` spans).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from typing import Any

import httpx
from fastapi import FastAPI

VARIANT = os.environ.get("INFERSIGHT_BENCH_VARIANT", "bare")
SINK = os.environ.get("INFERSIGHT_BENCH_SINK", "http://127.0.0.1:4318")
DOWNSTREAM = os.environ.get("INFERSIGHT_BENCH_DOWNSTREAM", SINK) + "/risk"
POOL_SIZE = 4

tracer: Any = None
if VARIANT == "contrib":
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "bench"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{SINK}/v1/traces")))
    mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{SINK}/v1/metrics"), export_interval_millis=5000)])
    tracer = tp.get_tracer("bench")
if VARIANT == "contrib" or VARIANT.startswith("infersight"):
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor


class Pool:
    """The app's own connection pool: a queue of sqlite3 connections."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        for _ in range(size):
            con = sqlite3.connect(":memory:", check_same_thread=False)
            con.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance REAL)")
            con.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, account INTEGER, amount REAL)")
            con.executemany("INSERT INTO accounts VALUES (?, ?)", [(i, 100.0 * i) for i in range(100)])
            con.executemany("INSERT INTO payments (account, amount) VALUES (?, ?)",
                            [(i % 100, 1.0) for i in range(1000)])
            con.execute("CREATE INDEX payments_account ON payments (account)")
            self.free.put_nowait(con)

    def in_use(self) -> int:
        return self.size - self.free.qsize()


app = FastAPI()
pool: Pool | None = None   # made on the first request: after the DB instrumentation is installed
client: httpx.AsyncClient | None = None
risk_cache: dict[int, float] = {i: 0.1 for i in range(0, 100, 2)}  # half the users hit
cache_get: Any = risk_cache.get
traced_acquire: Any = None


def _pool() -> Pool:
    global pool
    if pool is None:
        pool = Pool(POOL_SIZE)
    return pool


def _client() -> httpx.AsyncClient:
    global client
    if client is None:
        client = httpx.AsyncClient()
    return client


async def _acquire() -> sqlite3.Connection:
    if VARIANT == "contrib":
        with tracer.start_as_current_span("pool.acquire", attributes={"db.client.connection.pool.name": "db"}):
            return await _pool().free.get()
    if traced_acquire is not None:
        async with traced_acquire:
            return await _pool().free.get()
    return await _pool().free.get()


def _cache(user: int) -> float | None:
    if VARIANT == "contrib":
        with tracer.start_as_current_span("cache.lookup risk", attributes={"cache.name": "risk"}) as span:
            value = risk_cache.get(user)
            span.set_attribute("cache.hit", value is not None)
            return value
    result: float | None = cache_get(user)
    return result


@app.get("/pay/{user}")
async def pay(user: int) -> dict[str, object]:
    con = await _acquire()
    try:
        cur = con.cursor()  # DB-API cursors: what the OTel sqlite3 instrumentation traces
        balance = cur.execute("SELECT balance FROM accounts WHERE id = ?", (user % 100,)).fetchone()[0]
        paid = cur.execute("SELECT count(*), sum(amount) FROM payments WHERE account = ?", (user % 100,)).fetchone()
    finally:
        _pool().free.put_nowait(con)
    risk = _cache(user % 100)
    resp = await _client().get(DOWNSTREAM)
    return {"user": user, "balance": balance, "payments": paid[0], "risk": risk, "downstream": resp.status_code}


if VARIANT == "contrib":
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, meter_provider=mp)
    HTTPXClientInstrumentor().instrument(tracer_provider=tp)
    SQLite3Instrumentor().instrument(tracer_provider=tp)
elif VARIANT.startswith("infersight"):
    # ablations (not in the default set): -noclients (no httpx CLIENT span), -nodb (no query spans),
    # -nohelpers (no pool/cache spans), -server (the SERVER span alone)
    from infersight.instrument import instrument_app, traced_cache, traced_pool_acquire

    off = set(VARIANT.split("-")[1:])
    if "server" in off:
        off |= {"noclients", "nodb", "nohelpers"}
    instrument_app(app, "bench", endpoint=SINK,     # httpx CLIENT spans: instrument_clients (default)
                   instrument_clients="noclients" not in off)
    if "nodb" not in off:
        SQLite3Instrumentor().instrument()        # the queries: the OTel DB instrumentation, as docs say
    if "nohelpers" not in off:
        traced_acquire = traced_pool_acquire("db", size=POOL_SIZE, in_use=lambda: _pool().in_use())
        cache_get = traced_cache("risk").observe(risk_cache.get)
elif VARIANT != "bare":
    raise SystemExit(f"unknown variant {VARIANT!r}")
