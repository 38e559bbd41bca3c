"""The payment table (SQLite) and the two ways of keeping it in memory.

``full_sync`` is the reference incident: every ``period`` seconds a scheduled job pulls the
whole table into Python objects (one dict per row, plus a per-user index) and swaps the map.
Those hundreds of thousands of container objects survive into generation 2, so every full
collection walks them: real gen-2 GC pauses that stall the event loop, while the job holds a
pooled connection for the whole pull. ``incremental_sync`` is the fix: pull only rows changed
since the last ``updated_at`` seen, into an LRU-bounded per-user map; misses go to the DB.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infersight.demo._pool import ConnectionPool
from infersight.demo._sqlfile import load as load_sql

log = logging.getLogger(__name__)

MERCHANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne")
STATUSES = ("settled", "settled", "settled", "pending", "refunded", "declined")
CURRENCIES = ("EUR", "USD", "GBP")
SQL = load_sql("app_payments.sql")


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def build_payments_db(path: str | Path, rows: int = 500_000, users: int = 50_000, seed: int = 7) -> Path:
    """Create (or reuse, when it already has ``rows`` rows) the payment table at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:
            with sqlite3.connect(str(path)) as conn:
                meta = dict(conn.execute(SQL["read_meta"]).fetchall())
            if meta.get("rows") == str(rows) and meta.get("users") == str(users):
                return path
        except sqlite3.Error:
            pass
        path.unlink()
    tmp = path.with_suffix(f".building.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    rng = random.Random(seed)
    now = time.time()
    conn = sqlite3.connect(str(tmp))
    conn.executescript(SQL["create_tables"])
    conn.executemany(
        SQL["insert_payment_row"],
        ((i, rng.randrange(users), rng.randrange(100, 500_000), rng.choice(CURRENCIES), rng.choice(MERCHANTS),
          rng.choice(STATUSES), now - rng.random() * 86400 * 90, now - 86400) for i in range(rows)))
    conn.executescript(SQL["create_indexes"])
    conn.executemany(SQL["write_meta"], [("rows", str(rows)), ("users", str(users))])
    conn.commit()
    conn.close()
    os.replace(tmp, path)
    return path


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": r[0], "user_id": r[1], "amount_cents": r[2], "currency": r[3], "merchant": r[4],
            "status": r[5], "created_at": r[6], "updated_at": r[7]}


def query_user(conn: sqlite3.Connection, user_id: int) -> list[dict[str, Any]]:
    cur = conn.execute(SQL["user_payments"], (user_id,))
    return [_row(r) for r in cur.fetchall()]


class PaymentStore:
    """The in-memory view of the payment table that the request path reads.

    ``mode`` is ``"incremental"`` (the fix, default) or ``"full"`` (the incident); it can be
    switched at run time. ``sync_once()`` is the scheduled job's body; ``run_job`` wraps each
    run (the application passes its instrumentation's job tracer there).
    """

    def __init__(self, pool: ConnectionPool, *, mode: str = "incremental", lru_users: int = 20_000) -> None:
        self.pool = pool
        self.mode = mode
        self.lru_users = lru_users
        self._lock = threading.Lock()
        self._by_user_full: dict[int, list[dict[str, Any]]] = {}
        self._by_id_full: dict[int, dict[str, Any]] = {}
        self._lru: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._since = 0.0
        self.last_rows = 0

    @property
    def job_name(self) -> str:
        return "payments_full_sync" if self.mode == "full" else "payments_incremental_sync"

    # --- request path ---------------------------------------------------------------------
    def cached(self, user_id: int) -> list[dict[str, Any]] | None:
        """The user's payments from memory, or None (then the caller loads them from the DB)."""
        if self.mode == "full":
            rows = self._by_user_full.get(user_id)
            return rows if rows is not None or not self._by_id_full else []
        with self._lock:
            rows = self._lru.get(user_id)
            if rows is not None:
                self._lru.move_to_end(user_id)
            return rows

    def remember(self, user_id: int, rows: list[dict[str, Any]]) -> None:
        if self.mode == "full":
            return
        with self._lock:
            self._lru[user_id] = rows
            self._lru.move_to_end(user_id)
            while len(self._lru) > self.lru_users:
                self._lru.popitem(last=False)

    # --- the scheduled job ----------------------------------------------------------------
    def sync_once(self) -> int:
        """One run of the sync job in the current mode; returns the rows it pulled."""
        return self._full_sync() if self.mode == "full" else self._incremental_sync()

    def _full_sync(self) -> int:
        with self.pool.connection(timeout=30.0) as conn:
            rows = conn.execute(SQL["all_payments"]).fetchall()
            by_id: dict[int, dict[str, Any]] = {}
            by_user: dict[int, list[dict[str, Any]]] = {}
            for r in rows:  # one dict per row: long-lived container objects
                d = _row(r)
                by_id[d["id"]] = d
                by_user.setdefault(d["user_id"], []).append(d)
        self._by_id_full, self._by_user_full = by_id, by_user  # the old map becomes garbage
        self._since = max((d["updated_at"] for d in by_id.values()), default=self._since)
        self.last_rows = len(rows)
        return len(rows)

    def _incremental_sync(self) -> int:
        if self._by_id_full:  # switching back from full mode frees the big map
            self._by_id_full, self._by_user_full = {}, {}
        with self.pool.connection(timeout=30.0) as conn:
            if not self._since:
                self._since = conn.execute(SQL["max_updated"]).fetchone()[0]
                self.last_rows = 0
                return 0
            rows = conn.execute(SQL["changed_since"], (self._since,)).fetchall()
        with self._lock:
            for r in rows:
                d = _row(r)
                cached = self._lru.get(d["user_id"])
                if cached is not None:  # only users we already hold: the map stays bounded
                    cached[:] = [d, *(x for x in cached if x["id"] != d["id"])][:20]
        if rows:
            self._since = rows[-1][7]
        self.last_rows = len(rows)
        return len(rows)


class Scheduler:
    """Runs ``store.sync_once`` every ``period`` s in a thread, each run wrapped by ``run_job``
    (at least ``period / 2`` s apart when a run takes longer than half a period)."""

    def __init__(self, store: PaymentStore, period: float,
                 run_job: Callable[[str, Callable[[], int]], int] | None = None) -> None:
        self.store = store
        self.period = period
        self.run_job = run_job or (lambda name, fn: fn())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="payments-sync", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.run_job(self.store.job_name, self.store.sync_once)
                self.runs += 1
            except Exception:
                log.exception("payments sync failed")
            next_at += self.period
            # a run that overran its slot (a slow, busy machine) is followed by half a period of
            # rest, as a scheduler that skips missed ticks would: never back to back, so the
            # process always has time between runs (and requests that overlap no run exist)
            next_at = max(next_at, time.monotonic() + self.period / 2)
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)


class PaymentWriter:
    """Live traffic on the table: ``rate`` new/updated payments per second (a thread)."""

    def __init__(self, pool: ConnectionPool, users: int, rate: float = 20.0, seed: int = 11) -> None:
        self.pool, self.users, self.rate = pool, users, rate
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.rate > 0:
            self._thread = threading.Thread(target=self._loop, name="payments-writer", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            n = max(1, int(self.rate))
            now = time.time()
            batch = [(self._rng.randrange(self.users), self._rng.randrange(100, 500_000),
                      self._rng.choice(CURRENCIES), self._rng.choice(MERCHANTS), "pending", now, now)
                     for _ in range(n)]
            try:
                with self.pool.connection(timeout=5.0) as conn:
                    conn.executemany(SQL["insert_new_payment"], batch)
            except Exception:
                log.warning("payment writer could not write", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)


__all__ = ["PaymentStore", "PaymentWriter", "Scheduler", "build_payments_db", "connect", "query_user"]
