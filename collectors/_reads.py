"""Read access for the apps mounted on the collector's HTTP port (the Jaeger API, the web UI).

Each read runs in a worker thread on its own cursor of the collector's database: a snapshot
that never blocks ingest (DuckDB MVCC), off the event loop that receives OTLP. At most
``max_concurrent`` reads run at once, so a burst of page loads cannot take every core from
ingest; the others wait their turn.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

import duckdb

T = TypeVar("T")


class Reads:
    """``await reads.run(fn)`` calls ``fn(cursor)`` in a thread and returns its result."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: str, *, max_concurrent: int = 2) -> None:
        self.db_path = db_path
        self._con = con
        self._max = max_concurrent
        self._sems: dict[int, asyncio.Semaphore] = {}
        self._lock = threading.Lock()

    def use(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read through ``con`` from now on (the writer replaced an invalidated connection)."""
        self._con = con

    def _sem(self) -> asyncio.Semaphore:
        loop_id = id(asyncio.get_running_loop())
        with self._lock:
            sem = self._sems.get(loop_id)
            if sem is None:
                sem = self._sems[loop_id] = asyncio.Semaphore(self._max)
            return sem

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``fn(cursor)`` on the calling thread (for code that is not async)."""
        cur = self._con.cursor()
        try:
            return fn(cur)
        finally:
            cur.close()

    async def run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        async with self._sem():
            return await asyncio.to_thread(self.call, fn)


__all__ = ["Reads"]
