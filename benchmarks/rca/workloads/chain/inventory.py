"""inventory: stock levels in its own SQLite database (reads and reservations through a pool of 4)."""

from __future__ import annotations

import sqlite3

from fastapi import HTTPException
from pydantic import BaseModel

from benchmarks.rca.workloads.chain._common import Service
from benchmarks.rca.workloads.chain._db import Database, create_meta

ITEMS = 5000


def _init(conn: sqlite3.Connection) -> None:
    create_meta(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS stock (item_id INTEGER PRIMARY KEY, sku TEXT, qty INTEGER)")
    conn.executemany("INSERT OR IGNORE INTO stock VALUES (?, ?, ?)",
                     [(i, f"SKU-{i:05d}", 10_000) for i in range(ITEMS)])


async def _start(s: Service) -> None:
    await db.start()


async def _stop(s: Service) -> None:
    await db.stop()


svc = Service("inventory", startup=_start, shutdown=_stop)
app = svc.app
db = Database(svc.name, svc.plan, _init)


class Reservation(BaseModel):
    items: list[int]


def _parse_sku(sku: str, broken: bool) -> int:
    # the defect: a new SKU format ("SKU-v2-...") that this parser does not know
    return int(sku.replace("SKU-v2-", "x") if broken else sku.removeprefix("SKU-"))


@app.get("/inventory/stock/{item_id}")
async def stock(item_id: int) -> dict[str, int]:
    await svc.slow_and_busy()
    rows = await db.query(svc.rng, "SELECT qty FROM stock WHERE item_id = ?", (item_id % ITEMS,))
    if not rows:
        raise HTTPException(404, "unknown item")
    return {"item": item_id, "qty": int(rows[0][0])}


@app.post("/inventory/reserve")
async def reserve(body: Reservation) -> dict[str, object]:
    await svc.slow_and_busy()
    ids = [i % ITEMS for i in body.items]
    marks = ",".join("?" * len(ids))
    rows = await db.query(svc.rng, f"SELECT item_id, sku, qty FROM stock WHERE item_id IN ({marks})", ids)
    broken = svc.defect()
    reserved = [_parse_sku("SKU-v2-" + sku[4:] if broken else sku, broken) for _, sku, _ in rows]
    await db.query(svc.rng, f"UPDATE stock SET qty = qty - 1 WHERE item_id IN ({marks})", ids)
    return {"reserved": reserved}
