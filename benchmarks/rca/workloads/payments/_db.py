"""The payments database: SQLite through a small SQLAlchemy QueuePool, queries traced by the
standard OTel SQLAlchemy instrumentation (as docs/metrics.md tells a user), pool waits by
infersight's ``traced_pool_acquire``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infersight.instrument import traced_pool_acquire
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import QueuePool

POOL_NAME = "payments-db"
ACCOUNTS = 3000
MERCHANTS = 8

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS txns (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, "
    "merchant_id INTEGER NOT NULL, amount REAL NOT NULL, ts REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS refunds (id INTEGER PRIMARY KEY, txn_id INTEGER, amount REAL, ts REAL)",
)
INDEX = "CREATE INDEX IF NOT EXISTS ix_txns_account ON txns (account_id, ts)"
DROP_INDEX = "DROP INDEX IF EXISTS ix_txns_account"

RECENT = text("SELECT id, merchant_id, amount, ts FROM txns WHERE account_id = :a ORDER BY ts DESC LIMIT 20")
TOTALS = text("SELECT count(*), coalesce(sum(amount), 0), coalesce(max(amount), 0) FROM txns "
              "WHERE account_id = :a AND ts > :since")
MERCHANT = text("SELECT count(*), avg(amount) FROM txns WHERE merchant_id = :m AND id % 50 = 0")
REFUND = text("INSERT INTO refunds (txn_id, amount, ts) VALUES (:t, :amt, :ts)")


class Database:
    def __init__(self, path: Path, *, pool_size: int, timeout_s: float, rows: int, seed: int) -> None:
        self.path = path
        fresh = not path.exists()
        self.engine: Engine = create_engine(
            f"sqlite:///{path}", poolclass=QueuePool, pool_size=pool_size, max_overflow=0,
            pool_timeout=timeout_s, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(self.engine, "connect", _pragmas)
        if fresh:
            self._seed(rows, seed)
        self._index_lock = threading.Lock()
        self.indexed = True

    def _seed(self, rows: int, seed: int) -> None:
        rng = random.Random(seed)
        now = time.time()
        data = [{"a": rng.randint(1, ACCOUNTS), "m": rng.randint(1, MERCHANTS),
                 "amt": round(rng.lognormvariate(3.0, 1.0), 2), "ts": now - rng.uniform(0, 90 * 86400)}
                for _ in range(rows)]
        with self.engine.begin() as conn:
            for stmt in SCHEMA:
                conn.execute(text(stmt))
            conn.execute(text("INSERT INTO txns (account_id, merchant_id, amount, ts) VALUES (:a, :m, :amt, :ts)"),
                         data)
            conn.execute(text(INDEX))

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection; the wait for it is a ``pool.acquire`` span."""
        with traced_pool_acquire(POOL_NAME):
            conn = self.engine.connect()
        try:
            yield conn
        finally:
            conn.close()

    def set_indexed(self, on: bool) -> None:
        """The "migration" of the slow-DB fault drops the account index; recreated after."""
        with self._index_lock:
            if on == self.indexed:
                return
            with self.engine.begin() as conn:
                conn.execute(text(INDEX if on else DROP_INDEX))
            self.indexed = on

    def account(self, account_id: int) -> dict[str, Any]:
        with self.connection() as conn:
            recent = conn.execute(RECENT, {"a": account_id}).all()
            n, total, top = conn.execute(TOTALS, {"a": account_id, "since": time.time() - 30 * 86400}).one()
        return {"account_id": account_id, "recent": [r.id for r in recent], "n30": n, "total30": total, "max30": top}

    def merchant_stats(self, merchant_id: int) -> tuple[int, float]:
        with self.connection() as conn:
            n, avg = conn.execute(MERCHANT, {"m": merchant_id}).one()
        return int(n), float(avg or 0.0)

    def refund(self, txn_id: int, amount: float) -> None:
        with self.connection() as conn:
            conn.execute(REFUND, {"t": txn_id, "amt": amount, "ts": time.time()})
            conn.commit()


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


__all__ = ["ACCOUNTS", "MERCHANTS", "POOL_NAME", "Database"]
