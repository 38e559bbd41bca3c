"""Disk space: checkpoint before the disk is full, and keep room for that checkpoint.

Two facts about DuckDB shape this (measured on a small tmpfs, DuckDB 1.x):

* A commit that cannot write the WAL fails cleanly (the request gets 503, the database stays
  usable). But DuckDB checkpoints only when the WAL reaches ``checkpoint_threshold`` (64 MB
  here), so on a disk with less free space than that the WAL fills the disk and stays: every
  request is refused until an operator frees space, although a checkpoint would give the WAL's
  space back (the same rows take about half as much in the database file).
* A checkpoint that cannot write the database file is FATAL: the connection is invalidated and
  only reopening the file brings it back.

So after every commit group the writer thread asks :meth:`DiskGuard.after_write`: when the free
space is less than twice the WAL plus a reserve (5 % of the filesystem, 2 to 64 MiB), it checkpoints
early, but only while the space left is enough for that checkpoint. Below half the reserve, or
when a checkpoint does not fit (or failed: DuckDB may spill to its temp folder on the same disk
while it checkpoints; each failure raises the estimate), new writes are refused (503 +
Retry-After, :meth:`refusal`), so the WAL never eats the room a checkpoint needs; writes resume
as soon as that space is free again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

logger = logging.getLogger(__name__)
MIB = 1 << 20


class DiskGuard:
    def __init__(self, db_path: str, *, reserve_bytes: int | None = None,
                 statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> None:
        self.dir = str(Path(db_path).resolve().parent)
        self.wal_path = db_path + ".wal"
        self._reserve = reserve_bytes
        self._statvfs = statvfs
        self._lock = threading.Lock()
        self.low = False  # refusing writes: less than half the reserve is free
        self.checkpoints = 0
        self.skipped = 0
        self._warned = False
        self._factor = 1.0  # need = WAL * factor + reserve / 2 (raised after a failed checkpoint)
        self._hold: int | None = None  # refuse writes until this much is free

    def space(self) -> tuple[int, int]:
        """(free bytes for this user, filesystem size) of the database's filesystem."""
        st = self._statvfs(self.dir)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def reserve(self, total: int) -> int:
        if self._reserve is not None:
            return self._reserve
        return min(64 * MIB, max(2 * MIB, total // 20))

    def wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.wal_path)
        except OSError:
            return 0

    def _need(self, wal: int, reserve: int) -> int:
        """Free space a checkpoint of a ``wal``-byte WAL needs: the new rows take about half the
        WAL's bytes, but a checkpoint also rewrites the last, partly filled row groups before it
        frees the old blocks, and DuckDB may spill to its temp folder (on the same disk) while it
        checkpoints; so start at the WAL's size and double after every failed checkpoint."""
        return int(wal * self._factor) + reserve // 2

    def checkpoint_fits(self) -> bool:
        """Whether a checkpoint of the current WAL can be written (one that cannot is fatal)."""
        try:
            free, total = self.space()
        except OSError:
            return True
        wal = self.wal_bytes()
        return not wal or free >= self._need(wal, self.reserve(total))

    def after_write(self, con: duckdb.DuckDBPyConnection) -> None:
        """On the writer thread, after a commit group (committed or not)."""
        try:
            free, total = self.space()
        except OSError:
            return
        reserve = self.reserve(total)
        wal = self.wal_bytes()
        if wal and free < 2 * wal + reserve:
            need = self._need(wal, reserve)
            if free >= need:
                t0 = time.perf_counter()
                try:
                    con.execute("CHECKPOINT")
                    self.checkpoints += 1
                    logger.info("disk nearly full (%.1f MiB free on %s): checkpointed a %.1f MiB WAL early "
                                "in %.0f ms", free / MIB, self.dir, wal / MIB, (time.perf_counter() - t0) * 1e3)
                except duckdb.Error as exc:
                    # FATAL in DuckDB (the writer reopens the file); ask for more room next time
                    self._factor = min(8.0, self._factor * 2 + 0.5)
                    self._hold = max(self._hold or 0, free + reserve)
                    logger.error("early checkpoint failed (%s); refusing writes until %.1f MiB are free",
                                 str(exc).splitlines()[0], self._hold / MIB)
                try:
                    free, total = self.space()
                except OSError:
                    return
            else:  # no room for the checkpoint: stop the WAL from growing until space returns
                self.skipped += 1
                self._hold = max(self._hold or 0, need)
                if not self._warned:
                    self._warned = True
                    logger.warning("disk full: %.1f MiB free on %s, a checkpoint of the %.1f MiB WAL needs about "
                                   "%.1f MiB; refusing writes until then", free / MIB, self.dir, wal / MIB,
                                   need / MIB)
        self._set_low(free, reserve)

    def _set_low(self, free: int, reserve: int) -> None:
        with self._lock:
            if self._hold is not None and free >= self._hold:
                self._hold = None  # space came back: writes resume, and the next group checkpoints
            low = free < reserve // 2 or self._hold is not None
            if low != self.low:
                if low:
                    logger.warning("disk nearly full: %.1f MiB free on %s (keeping %.1f MiB for checkpoints); "
                                   "refusing writes with 503 until space returns", free / MIB, self.dir,
                                   max(reserve // 2, self._hold or 0) / MIB)
                else:
                    logger.info("disk space back (%.1f MiB free on %s): accepting writes", free / MIB, self.dir)
                    self._warned = False
            self.low = low

    def refusal(self) -> str | None:
        """A reason to refuse a write now (any thread), or None. While refusing, every call looks
        at the free space again (one statvfs), so writes resume as soon as space returns."""
        if not self.low:
            return None
        try:
            free, total = self.space()
        except OSError:
            return None
        self._set_low(free, self.reserve(total))
        return "disk nearly full; retry later" if self.low else None
