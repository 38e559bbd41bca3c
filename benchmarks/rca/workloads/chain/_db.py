"""A service's own SQLite database behind a small connection pool.

Queries are traced by the OpenTelemetry SQLite instrumentation (infersight's docs: "the OTel DB
instrumentations trace the queries themselves"), the pool wait by ``traced_pool_acquire``.
Two faults live here:
- ``slow_db``: another writer of the same database (a batch import) holds an exclusive lock
  ``hold_ms`` at a time, ``duty`` of the time: this service's queries wait in SQLite's busy handler;
- ``pool_starvation``: an error path forgets to give its connection back (a leak), with
  probability ``leak_prob`` per use; a reaper returns it ``leak_s`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from infersight.instrument import traced_pool_acquire
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

from benchmarks.rca.workloads._faultenv import FaultPlan

logger = logging.getLogger(__name__)


class Database:
    def __init__(self, service: str, plan: FaultPlan, init: Callable[[sqlite3.Connection], None],
                 size: int = 4, acquire_timeout_s: float = 3.0) -> None:
        self.service, self.plan, self.size = service, plan, size
        self.pool_name = f"{service}-db"
        self.acquire_timeout_s = acquire_timeout_s
        workdir = os.environ.get("RCA_WORKDIR")  # the runner's scratch folder, else a temporary one
        if workdir:
            Path(workdir).mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=f"rca-{service}-", dir=workdir or None))
        self.path = self._dir / "db.sqlite"
        self._init = init
        self._free: asyncio.Queue[Any] = asyncio.Queue()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=MEMORY")  # rollback journal: a writer's lock blocks readers
        return conn

    async def start(self) -> None:
        seed = self._connect()
        self._init(seed)
        seed.close()
        for _ in range(self.size):
            self._free.put_nowait(SQLite3Instrumentor.instrument_connection(self._connect()))
        if self.plan.planned("slow_db", self.service):
            self._writer = threading.Thread(target=self._other_writer, name=f"{self.service}-import",
                                            daemon=True)
            self._writer.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join, 5.0)
        shutil.rmtree(self._dir, ignore_errors=True)

    @contextlib.asynccontextmanager
    async def connection(self, rng: Any) -> AsyncIterator[Any]:
        async with traced_pool_acquire(self.pool_name):
            conn = await asyncio.wait_for(self._free.get(), self.acquire_timeout_s)
        leak = self.plan.active("pool_starvation", self.service)
        try:
            yield conn
        finally:
            if leak is not None and rng.random() < leak.param("leak_prob", 0.25):
                later = leak.param("leak_s", 2.0)
                asyncio.get_running_loop().call_later(later, self._free.put_nowait, conn)
            else:
                self._free.put_nowait(conn)

    async def query(self, rng: Any, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.connection(rng) as conn:
            return await asyncio.to_thread(_run, conn, sql, args)

    def _other_writer(self) -> None:
        """Not this service: a batch import holding the database's write lock (untraced here)."""
        conn = self._connect()
        try:
            while not self._stop.is_set():
                fault = self.plan.active("slow_db", self.service)
                if fault is None:
                    self._stop.wait(0.2)
                    continue
                hold = fault.param("hold_ms", 100.0) / 1e3
                duty = min(max(fault.param("duty", 0.5), 0.05), 0.95)
                conn.execute("BEGIN EXCLUSIVE")
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'imports'")
                time.sleep(hold)
                conn.execute("COMMIT")
                self._stop.wait(hold * (1 - duty) / duty)
        except sqlite3.Error:
            logger.exception("the other writer failed")
        finally:
            conn.close()


def _run(conn: Any, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(sql, tuple(args))
    rows = cur.fetchall()
    cur.close()
    return list(rows)


def create_meta(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('imports', 0)")


__all__ = ["Database", "create_meta"]
