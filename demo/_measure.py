"""What a run did, measured from the toolkit's own telemetry (the collector's DuckDB).

Used by the incident story (P99 before/after) and by the fault-vs-clean tests. The queries
live in ``sql/*.sql``; windows are ``[start, end)`` in UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from infersight.demo._sqlfile import SQL_DIR

QUERIES = ("request_latency", "gc_gen2", "cache_misses", "pool_wait", "downstream_latency", "loop_lag")


@cache
def _sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _ts(value: str | datetime) -> datetime:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def query(con: Any, name: str, **params: Any) -> dict[str, Any]:
    """Run ``sql/<name>.sql`` with ``params`` (times as ISO strings or datetimes); one row as a dict."""
    bound = {k: _ts(v) if k in ("start", "end") else v for k, v in params.items()}
    cur = con.execute(_sql(name), bound)
    cols = [d[0] for d in cur.description]
    row = cur.fetchone()
    return dict(zip(cols, row, strict=True)) if row is not None else dict.fromkeys(cols)


def measure_window(con: Any, service: str, start: str | datetime, end: str | datetime) -> dict[str, Any]:
    """Every measure of the demo for one window: latency, GC, caches, pool, downstream, loop lag, jobs.

    ``job_overlap.payments_full_sync`` compares, inside the window, the requests that overlapped a
    full-sync run with those that did not; ``loop_lag_tail`` is the share of lag samples > 25 ms.
    """
    out: dict[str, Any] = {}
    for name in QUERIES:
        params: dict[str, Any] = {"service": service, "start": start, "end": end}
        if name == "cache_misses":
            for cache_name in ("response_cache", "payments_cache"):
                out[f"{name}.{cache_name}"] = query(con, name, cache=cache_name, **params)
            continue
        out[name] = query(con, name, **params)
    for job in ("payments_full_sync", "payments_incremental_sync"):
        out[f"job.{job}"] = query(con, "job_runs", service=service, job=job, start=start, end=end)
    out["job_overlap.payments_full_sync"] = query(con, "job_overlap", service=service, job="payments_full_sync",
                                                  start=start, end=end)
    out["loop_lag_tail"] = query(con, "loop_lag_tail", service=service, start=start, end=end, bound=0.025)
    return out


def open_db(path: str | Path) -> Any:
    """The run's DuckDB (or Parquet folder), read-only, through the collector's public reader."""
    from infersight.collectors.reader import open_readonly

    return open_readonly(path)


__all__ = ["QUERIES", "measure_window", "open_db", "query"]
