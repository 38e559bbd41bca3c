"""The one writer thread that owns the DuckDB connection: bounded queue, group commit.

``submit()`` enqueues Arrow tables and returns a future; the thread takes whatever is queued
(waiting up to ``linger_s`` = 5 ms for a group of ``target_group_rows`` rows, but only while
requests announced with ``incoming()`` are still being decoded: a lone request is committed at
once), appends it all in one transaction, commits, then completes every future of that group. A
request is therefore acknowledged only after its rows are committed (DuckDB's WAL is fsynced
at commit). When the queued rows pass ``max_queue_rows``, ``submit`` raises OverloadedError at
once (-> HTTP 503 / gRPC UNAVAILABLE with a retry hint) instead of growing memory.
Maintenance jobs (retention deletes, checkpoints) run on the same thread between groups.
With a ``DiskGuard`` the thread checkpoints early when the disk is nearly full and ``submit``
refuses writes while too little space is left (see ``_disk``). With ``reopen``, a connection
that DuckDB invalidated (a FATAL error, e.g. a checkpoint that hit a full disk) is replaced by
a fresh one (the WAL is replayed), so ingest resumes without a restart.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from ._disk import DiskGuard
from ._errors import OverloadedError, StorageError

logger = logging.getLogger(__name__)

_Job = tuple[dict[str, pa.Table], int, concurrent.futures.Future[None]]
_Task = tuple[Callable[[duckdb.DuckDBPyConnection], Any], concurrent.futures.Future[Any]]


class Writer:
    def __init__(self, con: duckdb.DuckDBPyConnection, *, max_queue_rows: int = 131_072,
                 max_group_rows: int = 131_072, linger_s: float = 0.005, target_group_rows: int = 4096,
                 guard: DiskGuard | None = None,
                 reopen: Callable[[duckdb.DuckDBPyConnection], duckdb.DuckDBPyConnection] | None = None,
                 on_commit: Callable[[float], None] | None = None) -> None:
        self._con = con
        self._on_commit = on_commit  # seconds one group's append + commit took (self-metrics)
        self._guard = guard
        self._reopen = reopen
        self._broken = False
        self.reopened = 0
        self._max_queue_rows = max_queue_rows
        self._max_group_rows = max_group_rows
        self._linger_s = linger_s
        self._target_group_rows = target_group_rows
        self._jobs: collections.deque[_Job] = collections.deque()
        self._tasks: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._incoming = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="infersight-writer", daemon=True)
        self.rows_written = 0
        self.commits = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def incoming_requests(self) -> int:
        """Requests announced with ``incoming()`` that have not submitted (or given up) yet."""
        return self._incoming

    def incoming(self, n: int = 1) -> None:
        """``+1`` when a request that will ``submit`` starts decoding, ``-1`` when it did (or gave up).

        The commit loop lingers for a bigger group only while some request is on its way.
        """
        with self._cond:
            self._incoming += n
            if n < 0:
                self._cond.notify()

    def submit(self, tables: dict[str, pa.Table], *, announced: bool = False) -> concurrent.futures.Future[None]:
        """Queue ``tables`` for the next group commit; ``announced``: this ends an ``incoming()``."""
        rows = sum(t.num_rows for t in tables.values())
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._cond:
            if announced:
                self._incoming -= 1
                self._cond.notify()  # also when refused below: the group may stop waiting for it
            if self._stopping:
                raise OverloadedError("collector is shutting down", retry_after=5.0)
            if self._guard is not None and (why := self._guard.refusal()) is not None:
                raise OverloadedError(why, retry_after=5.0)
            if self._queued_rows and self._queued_rows + rows > self._max_queue_rows:
                raise OverloadedError(f"write queue full ({self._queued_rows} rows queued)", retry_after=1.0)
            self._queued_rows += rows
            self._jobs.append((tables, rows, fut))
            self._cond.notify()
        return fut

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn(con)`` on the writer thread (between commit groups)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cond:
            if self._stopping:
                fut.set_exception(StorageError("writer is stopped"))
                return fut
            self._tasks.append((fn, fut))
            self._cond.notify()
        return fut

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._tasks and not self._stopping:
                    self._cond.wait()
                if not self._jobs and not self._tasks and self._stopping:
                    return
                if self._jobs and self._linger_s > 0 and not self._stopping:
                    # Group commit: a commit costs about the same for 512 rows as for 8192 (WAL fsync,
                    # per-append overhead), so give concurrent requests a few ms to join this group.
                    deadline = time.monotonic() + self._linger_s
                    while (self._incoming > 0 and self._queued_rows < self._target_group_rows and not self._stopping
                           and not self._tasks and (left := deadline - time.monotonic()) > 0):
                        self._cond.wait(left)
                group: list[_Job] = []
                rows = 0
                while self._jobs and (not group or rows + self._jobs[0][1] <= self._max_group_rows):
                    job = self._jobs.popleft()
                    group.append(job)
                    rows += job[1]
                tasks = list(self._tasks)
                self._tasks.clear()
            if group:
                self._commit(group, rows)
                with self._cond:
                    self._queued_rows -= rows
                if self._guard is not None and not self._broken:
                    self._guard.after_write(self._con)
            for fn, tfut in tasks:
                try:
                    tfut.set_result(fn(self._con))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    self._note_fatal(exc)
                    tfut.set_exception(exc)
            if self._broken:
                self._try_reopen()

    def _note_fatal(self, exc: BaseException) -> None:
        if isinstance(exc, duckdb.FatalException) or "invalidated" in str(exc):
            self._broken = True

    def _try_reopen(self) -> None:
        if self._reopen is None:
            return
        try:
            self._con = self._reopen(self._con)
        except Exception as exc:  # noqa: BLE001 - retried after the next group
            logger.error("reopening the database failed (%s); will retry", str(exc).splitlines()[0])
            time.sleep(1.0)
            return
        self._broken = False
        self.reopened += 1
        logger.warning("the database connection was invalidated by a fatal error; reopened it (WAL replayed)")

    def _commit(self, group: list[_Job], rows: int) -> None:
        by_table: dict[str, list[pa.Table]] = collections.defaultdict(list)
        for tables, _, _ in group:
            for name, tbl in tables.items():
                by_table[name].append(tbl)
        t0 = time.perf_counter()
        try:
            self._insert(by_table)
        except duckdb.Error as exc:
            self._note_fatal(exc)
            if self._broken:
                logger.error("group commit of %d requests failed: %s", len(group), str(exc).splitlines()[0])
                for _, _, fut in group:
                    fut.set_exception(StorageError(f"write failed: {exc}"))
                return
            logger.warning("group commit of %d requests failed (%s); retrying one by one", len(group), exc)
            for tables, _, fut in group:
                try:
                    self._insert({k: [v] for k, v in tables.items()})
                    fut.set_result(None)
                except duckdb.Error as exc2:
                    self._note_fatal(exc2)
                    fut.set_exception(StorageError(f"write failed: {exc2}"))
            return
        self.rows_written += rows
        self.commits += 1
        took = time.perf_counter() - t0
        if self._on_commit is not None:
            self._on_commit(took)
        logger.debug("committed %d rows from %d requests in %.1f ms", rows, len(group), took * 1e3)
        for _, _, fut in group:
            fut.set_result(None)

    def _insert(self, by_table: dict[str, list[pa.Table]]) -> None:
        con = self._con
        if len(by_table) == 1:  # one statement = one transaction (no BEGIN/COMMIT round trips)
            ((name, tables),) = by_table.items()
            _insert_table(con, name, tables)
            return
        con.execute("BEGIN TRANSACTION")
        try:
            for name, tables in by_table.items():
                _insert_table(con, name, tables)
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise


def _insert_table(con: duckdb.DuckDBPyConnection, name: str, tables: list[pa.Table]) -> None:
    _infersight_in = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    # DuckDB finds the Arrow table by its variable name in this (the calling) frame: a replacement
    # scan, ~1 ms per commit cheaper than register/unregister (a temp view created and dropped);
    # BY NAME matches columns by name, not position
    con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _infersight_in')
