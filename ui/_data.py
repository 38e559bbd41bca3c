"""What the pages read: RED per route, its series, and what ran next to a trace (ui/sql/*.sql).

Trace search and trace lookup are :mod:`infersight.collectors.query` (shared with the Jaeger
API); this module adds the UI's own aggregates. Every function takes a DuckDB cursor.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import duckdb

STEPS_NS = (10**9, 5 * 10**9, 10 * 10**9, 15 * 10**9, 30 * 10**9, 60 * 10**9, 120 * 10**9, 300 * 10**9,
            600 * 10**9, 900 * 10**9, 1800 * 10**9, 3600 * 10**9, 3 * 3600 * 10**9, 6 * 3600 * 10**9,
            12 * 3600 * 10**9, 86400 * 10**9)


@functools.cache
def sql(name: str) -> str:
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql(name), params)
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def step_for(span_ns: int, buckets: int = 60) -> int:
    """The smallest round step that cuts ``span_ns`` into at most ``buckets`` buckets."""
    want = span_ns / buckets
    return next((s for s in STEPS_NS if s >= want), STEPS_NS[-1])


def red_table(con: duckdb.DuckDBPyConnection, from_ns: int, to_ns: int) -> list[dict[str, Any]]:
    return rows(con, "red_by_route", {"from_ns": from_ns, "to_ns": to_ns})


def red_series(con: duckdb.DuckDBPyConnection, from_ns: int, to_ns: int) -> list[dict[str, Any]]:
    return rows(con, "red_series", {"from_ns": from_ns, "to_ns": to_ns, "step_ns": step_for(to_ns - from_ns)})


def red(con: duckdb.DuckDBPyConnection, from_ns: int, to_ns: int, *,
        table: list[dict[str, Any]] | None = None, series_rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """RED per (service, route) with its per-step series, plus the step and bucket count.

    ``table``/``series_rows``: the two queries' rows when the caller ran them already (the UI
    runs them side by side on two cursors)."""
    step = step_for(to_ns - from_ns)
    n = -(-(to_ns - from_ns) // step)
    table = red_table(con, from_ns, to_ns) if table is None else table
    series_rows = red_series(con, from_ns, to_ns) if series_rows is None else series_rows
    series: dict[tuple[str, str | None], dict[str, list[float | None]]] = {}
    for r in series_rows:
        s = series.setdefault((r["service"], r["route"]), {"requests": [0.0] * n, "errors": [0.0] * n,
                                                           "p99_ms": [None] * n})
        b = int(r["bucket"])
        if 0 <= b < n:
            s["requests"][b] = float(r["requests"])
            s["errors"][b] = float(r["errors"])
            s["p99_ms"][b] = float(r["p99_ns"]) / 1e6
    seconds = (to_ns - from_ns) / 1e9
    for r in table:
        q = r.pop("q_ns") or [None, None, None]
        r["p50_ms"], r["p95_ms"], r["p99_ms"] = (None if v is None else float(v) / 1e6 for v in q)
        r["max_ms"] = None if r["max_ns"] is None else float(r.pop("max_ns")) / 1e6
        r["rate"] = r["requests"] / seconds if seconds > 0 else 0.0
        r["error_share"] = r["errors"] / r["requests"] if r["requests"] else 0.0
        r["series"] = series.get((r["service"], r["route"]))
    return {"routes": table, "step_ns": step, "buckets": n}


def concurrent(con: duckdb.DuckDBPyConnection, *, services: list[str], trace_id: str, from_ns: int, to_ns: int,
               lookback_ns: int = 600 * 10**9, limit: int = 30) -> list[dict[str, Any]]:
    """Root INTERNAL/messaging spans of other traces in ``services`` overlapping [from, to)."""
    out = rows(con, "concurrent", {"services": services, "trace_id": trace_id, "from_ns": from_ns, "to_ns": to_ns,
                                   "lookback_ns": lookback_ns, "limit": limit})
    for r in out:
        r["attributes"] = dict(r["attributes"] or {})
    return out


__all__ = ["concurrent", "red", "red_series", "red_table", "rows", "sql", "step_for"]
