"""Background retention: delete rows older than ``retention`` and keep the file under ``max_size``.

Deletes run on the writer thread in small time slices (one hour of data per step), so each step
is a short transaction between ingest groups and never stalls ingest for long. DuckDB reuses the
freed blocks after a checkpoint; the file does not shrink, it stops growing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import duckdb

from ._schema import METRIC_TABLES, TABLES
from ._writer import Writer

logger = logging.getLogger(__name__)
_STEP_NS = 3600 * 10**9


def _time_col(table: str) -> str:
    return "TimeUnix" if table in METRIC_TABLES else "Timestamp"


def _oldest_ns(con: duckdb.DuckDBPyConnection) -> int | None:
    parts = " UNION ALL ".join(
        f'SELECT epoch_ns(min("{_time_col(t)}")) AS t FROM "{t}"' for t in TABLES)
    row = con.execute(f"SELECT min(t) FROM ({parts})").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _delete_before(cutoff_ns: int) -> Callable[[duckdb.DuckDBPyConnection], int]:
    def job(con: duckdb.DuckDBPyConnection) -> int:
        n = 0
        con.execute("BEGIN TRANSACTION")
        try:
            for t in TABLES:
                row = con.execute(f'DELETE FROM "{t}" WHERE "{_time_col(t)}" < make_timestamp_ns(?)',
                                  [cutoff_ns]).fetchone()
                n += int(row[0]) if row else 0
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return n
    return job


def used_bytes(con: duckdb.DuckDBPyConnection, path: str) -> int:
    row = con.execute("SELECT used_blocks * block_size FROM pragma_database_size()").fetchone()
    wal = path + ".wal"
    return (int(row[0]) if row and row[0] is not None else 0) + (os.path.getsize(wal) if os.path.exists(wal) else 0)


class Retention:
    def __init__(self, writer: Writer, path: str, *, retention_s: float | None, max_size: int | None,
                 interval_s: float = 30.0, clock: Callable[[], float] = time.time) -> None:
        self.writer = writer
        self.path = path
        self.retention_s = retention_s
        self.max_size = max_size
        self.interval_s = interval_s
        self.clock = clock
        self.deleted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="infersight-retention", daemon=True)

    def start(self) -> None:
        if self.retention_s or self.max_size:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - retention must never kill the collector
                logger.exception("retention pass failed; will retry")

    def run_once(self) -> int:
        """One pass: age-based deletes, then size-based deletes. Returns rows deleted."""
        deleted = 0
        if self.retention_s:
            cutoff = int((self.clock() - self.retention_s) * 1e9)
            deleted += self._delete_until(cutoff)
        if self.max_size:
            deleted += self._shrink(self.max_size)
        if deleted:
            logger.info("retention deleted %d rows", deleted)
        self.deleted += deleted
        return deleted

    def _shrink(self, limit: int) -> int:
        """Delete the oldest tenth of the time range until the used size is under ``limit``.

        Data from the last hour is never deleted to meet the size limit.
        DuckDB frees space per row group (122,880 rows), so a delete that frees nothing (all data
        in a few partially deleted row groups) stops the loop rather than emptying the database.
        """
        deleted = 0
        size = self.writer.call(lambda con: used_bytes(con, self.path)).result()
        fruitless = 0
        for _ in range(32):
            if size <= limit or self._stop.is_set():
                break
            oldest = self.writer.call(_oldest_ns).result()
            if oldest is None:
                break
            newest = int(self.clock() * 1e9)
            step = max(_STEP_NS // 60, (newest - oldest) // 10)
            cutoff = min(oldest + step, newest - _STEP_NS)  # the last hour is never deleted for size
            if cutoff <= oldest:
                logger.warning("size retention: only the last hour is left (%d bytes used, limit %d)", size, limit)
                break
            deleted += self.writer.call(_delete_before(cutoff)).result()
            self.writer.call(lambda con: con.execute("CHECKPOINT")).result()
            after = self.writer.call(lambda con: used_bytes(con, self.path)).result()
            if after >= size:
                fruitless += 1
                if fruitless < 3:
                    continue
                logger.warning("size retention: deleting old rows freed no space (%d bytes used, limit %d); "
                               "DuckDB frees space per row group, will retry later", after, limit)
                break
            size, fruitless = after, 0
        return deleted

    def _delete_until(self, cutoff_ns: int) -> int:
        oldest = self.writer.call(_oldest_ns).result()
        deleted = 0
        while oldest is not None and oldest < cutoff_ns and not self._stop.is_set():
            step_cut = min(cutoff_ns, oldest + _STEP_NS)
            deleted += self.writer.call(_delete_before(step_cut)).result()
            nxt = self.writer.call(_oldest_ns).result()
            oldest = None if nxt is None else max(nxt, step_cut)
        return deleted
