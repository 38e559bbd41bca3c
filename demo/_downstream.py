"""The downstream dependency: a small risk-scoring service (its own process, its own SQLite).

``POST /score`` aggregates the account's recent risk events. Normally an index serves it; in
slow mode (the ``slow_downstream`` fault, ``POST /admin/mode {"slow": true}``) the query is
``NOT INDEXED``: a real full scan of the event table on every call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from infersight.demo._sqlfile import load as load_sql

log = logging.getLogger(__name__)

SQL = load_sql("app_payments.sql")


def build_risk_db(path: str | Path, rows: int = 300_000, accounts: int = 50_000, seed: int = 3) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path
    tmp = path.with_suffix(f".building.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    rng = random.Random(seed)
    conn = sqlite3.connect(str(tmp))
    conn.execute(SQL["create_risk_events"])
    conn.executemany(SQL["insert_risk_event"],
                     ((i, rng.randrange(accounts), rng.random(), rng.choice(("login", "device", "geo", "velocity")))
                      for i in range(rows)))
    conn.execute(SQL["index_risk_events"])
    conn.commit()
    conn.close()
    os.replace(tmp, path)
    return path


def create_downstream_app(db_path: str | Path, *, service_name: str = "risk-service", slow: bool = False,
                          **providers: Any) -> FastAPI:
    """The risk service, instrumented with infersight's one line (``providers``: injected ones)."""
    local = threading.local()
    state: dict[str, Any] = {"slow": slow}

    def conn() -> sqlite3.Connection:
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = sqlite3.connect(str(db_path), check_same_thread=False)
        return c

    def score(account: int) -> dict[str, Any]:
        n, sev = conn().execute(SQL["risk_score_unindexed" if state["slow"] else "risk_score"], (account,)).fetchone()
        return {"account": account, "events": n, "score": round(min(1.0, 0.1 * n * sev), 4)}

    app = FastAPI(title=service_name)

    @app.post("/score")
    async def post_score(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            account = int(body["account"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "body must be JSON with an integer 'account'"}, status_code=400)
        return JSONResponse(await asyncio.to_thread(score, account))

    @app.get("/admin/mode")
    async def get_mode() -> dict[str, Any]:
        return dict(state)

    @app.post("/admin/mode")
    async def post_mode(request: Request) -> dict[str, Any]:
        body = await request.json()
        state["slow"] = bool(body.get("slow", state["slow"]))
        log.warning("risk service slow mode: %s", state["slow"])
        return dict(state)

    from infersight.demo._telemetry import instrument_service

    instrument_service(app, service_name, **providers)
    return app


__all__ = ["build_risk_db", "create_downstream_app"]
