"""Background work of payments-api: the fault driver and the jobs it runs while a fault is on.

- ``ledger_sync`` (gc_job): every ``period_s`` rebuilds an in-memory ledger snapshot of ``rows``
  dicts in a thread: allocations that make gen-2 GC pauses stall every thread.
- ``report_flush`` (loop_block_job): every ``period_s`` serialises a report on the event loop
  for about ``block_ms``.
- pool starvation: ``held`` connections checked out by a reconciliation thread that holds each
  for ``hold_s`` before returning it.
- ``metrics_rollup`` (healthy extra): ``job_ms`` of work every ``job_period_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

from infersight.instrument import current_job, traced_job
from sqlalchemy import text

from ._faults import Schedule

log = logging.getLogger(__name__)
TICK_S = 0.2


def _burn_ms(ms: float) -> int:
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += sum(i * i for i in range(200))
    return n


class Background:
    """One driver thread applies the schedule; ``loop_task`` runs on the server's event loop."""

    def __init__(self, sched: Schedule, state: Any) -> None:
        self.sched = sched
        self.state = state
        self.stop = threading.Event()
        self.snapshot: list[dict[str, Any]] = []
        self._next: dict[str, float] = {}
        self._holders: list[threading.Thread] = []
        self._cold_on = False

    def start(self) -> None:
        threading.Thread(target=self._drive, name="fault-driver", daemon=True).start()

    def _due(self, name: str, period: float) -> bool:
        now = time.monotonic()
        nxt = self._next.setdefault(name, now + period * 0.5)
        if now >= nxt:
            self._next[name] = now + period
            return True
        return False

    def _drive(self) -> None:
        while not self.stop.wait(TICK_S):
            try:
                self._tick()
            except Exception:
                log.exception("fault driver tick failed")

    def _tick(self) -> None:
        s, st = self.sched, self.state
        st.gc_storm = s.active("gc_storm")
        st.code_defect = s.active("code_defect")
        stampede = s.active("cache_stampede")
        st.cache_store.align_s = float(stampede["period_s"]) if stampede else None
        cold = s.active("cold_cache")
        if cold and not self._cold_on:
            st.cache_store.flush()
        self._cold_on = cold is not None
        st.cache_store.ttl_s = float(cold["ttl_s"]) if cold else st.cache_ttl_s
        st.db.set_indexed(s.active("slow_db") is None)
        starve = s.active("pool_starvation")
        self._holders = [t for t in self._holders if t.is_alive()]
        if starve and not self._holders:
            for i in range(int(starve["held"])):
                t = threading.Thread(target=self._hold, args=(float(starve["hold_s"]),), name=f"reconcile-{i}",
                                     daemon=True)
                t.start()
                self._holders.append(t)
        gc_job = s.active("gc_job")
        if gc_job and self._due("ledger_sync", float(gc_job["period_s"])):
            threading.Thread(target=self.ledger_sync, args=(int(gc_job["rows"]),), daemon=True).start()
        if s.healthy.get("job_period_s") and self._due("metrics_rollup", float(s.healthy["job_period_s"])):
            self.metrics_rollup(float(s.healthy.get("job_ms", 5)))

    def _hold(self, hold_s: float) -> None:
        while not self.stop.is_set() and self.sched.active("pool_starvation"):
            with self.state.db.connection() as conn:
                conn.execute(text("SELECT count(*) FROM refunds")).one()
                time.sleep(hold_s)
            time.sleep(0.01)

    @traced_job("ledger_sync")
    def ledger_sync(self, rows: int) -> int:
        snap = [{"id": i, "account": i % 3000, "amount": i * 0.01, "tags": [i, "ok"], "meta": {"v": i}}
                for i in range(rows)]
        self.snapshot = snap
        job = current_job()
        if job is not None:
            job.rows = rows
        return rows

    @traced_job("metrics_rollup")
    def metrics_rollup(self, ms: float) -> int:
        return _burn_ms(ms)

    async def loop_task(self) -> None:
        """Runs on the event loop: blocking work here stalls every request."""
        while not self.stop.is_set():
            await asyncio.sleep(TICK_S)
            p = self.sched.active("loop_block_job")
            if p and self._due("report_flush", float(p["period_s"])):
                with traced_job("report_flush"):
                    end = time.perf_counter() + float(p["block_ms"]) / 1000
                    report = {"rows": [{"k": i, "v": str(i)} for i in range(2000)]}
                    while time.perf_counter() < end:
                        json.dumps(report)


__all__ = ["Background"]
