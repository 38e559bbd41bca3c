"""orders: checkout (pricing + inventory + its own SQLite) and the recent-orders page."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from pydantic import BaseModel

from benchmarks.rca.workloads.chain._common import Service
from benchmarks.rca.workloads.chain._db import Database, create_meta


def _init(conn: sqlite3.Connection) -> None:
    create_meta(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT, "
                 "items TEXT, total_cents INTEGER, created REAL)")
    conn.execute("CREATE INDEX IF NOT EXISTS orders_created ON orders (created)")
    conn.executemany("INSERT INTO orders (user, items, total_cents, created) VALUES (?, ?, ?, ?)",
                     [(f"u{i % 97}", "[1, 2]", 1000 + i, time.time() - 86_400 + i) for i in range(2000)])


async def _start(s: Service) -> None:
    await db.start()


async def _stop(s: Service) -> None:
    await db.stop()


svc = Service("orders", startup=_start, shutdown=_stop)
app = svc.app
db = Database(svc.name, svc.plan, _init)


class Checkout(BaseModel):
    items: list[int]
    user: str = "anon"


@app.post("/orders/checkout")
async def checkout(body: Checkout) -> dict[str, object]:
    await svc.slow_and_busy()
    svc.gc_storm(len(body.items))
    quote, reservation = await asyncio.gather(
        svc.call("pricing", "POST", "/price/quote", json={"items": body.items, "user": body.user}),
        svc.call("inventory", "POST", "/inventory/reserve", json={"items": body.items}))
    rows = await db.query(svc.rng, "INSERT INTO orders (user, items, total_cents, created) VALUES (?, ?, ?, ?) "
                          "RETURNING id", (body.user, str(body.items), quote["total_cents"], time.time()))
    return {"order": rows[0][0], "total_cents": quote["total_cents"], "reserved": reservation["reserved"]}


@app.get("/orders/recent")
async def recent(limit: int = 10) -> dict[str, object]:
    await svc.slow_and_busy()
    rows = await db.query(svc.rng, "SELECT id, user, total_cents FROM orders ORDER BY created DESC LIMIT ?",
                          (limit,))
    return {"orders": [{"id": r[0], "user": r[1], "total_cents": r[2]} for r in rows]}
