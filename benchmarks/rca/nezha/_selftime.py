"""Reference ranking "self time credited to the callee" (the baseline issue 17 quotes at AC@1 0.38).

Per trace, the critical path (``infersight.analysis.critical_path``, Jaeger's last-finishing-child walk)
splits the root's duration into stretches of each span's own time; a CLIENT span's own stretch (the wait
its callee's SERVER span does not cover) is credited to the callee. Per service, the mean critical-path
time per trace in the fault window minus the same in the baseline window ranks the services: the largest
rise first.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
from infersight.analysis import Span, critical_path

_SQL = (Path(__file__).parent / "sql" / "selftime_spans.sql").read_text()


def path_time_per_trace(con: duckdb.DuckDBPyConnection, since_ns: int, until_ns: int) -> dict[str, float]:
    """Mean critical-path nanoseconds per trace credited to each service, traces rooted in the window."""
    rows = con.execute(_SQL, {"since_ns": since_ns, "until_ns": until_ns}).fetchall()
    traces: dict[str, list[Span]] = defaultdict(list)
    for trace_id, span_id, parent, start, end, credited in rows:
        traces[trace_id].append(Span(span_id, parent or None, int(start), int(end), "", credited))
    acc: dict[str, float] = defaultdict(float)
    for spans in traces.values():
        for seg in critical_path(spans):
            acc[seg.service] += seg.duration_ns
    n = max(1, len(traces))
    return {svc: total / n for svc, total in acc.items()}


def rank_services(db: Path, window: tuple[int, int], baseline: tuple[int, int]) -> list[dict[str, object]]:
    """Services by rise of their critical-path time per trace (window vs baseline), largest first."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        now = path_time_per_trace(con, *window)
        before = path_time_per_trace(con, *baseline)
    finally:
        con.close()
    rises = {svc: now.get(svc, 0.0) - before.get(svc, 0.0) for svc in set(now) | set(before)}
    ranked = sorted(rises.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"service": svc, "category": "self_time_rise", "rise_ms": round(rise / 1e6, 2),
             "baseline_ms": round(before.get(svc, 0.0) / 1e6, 2)} for svc, rise in ranked]


__all__ = ["path_time_per_trace", "rank_services"]
