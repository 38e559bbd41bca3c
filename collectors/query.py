"""Read queries over ``otel_traces`` for the trace UIs (the Jaeger query API, infersight's web UI).

Every function takes a DuckDB connection (a cursor of a running collector's database, or a file
opened with :func:`~infersight.collectors.reader.open_readonly`) and binds every value as a
parameter of one ``collectors/sql/*.sql`` file. Filters and LIMITs run inside DuckDB: a search
over ten million spans reads only the row groups of the time window, and keeps one page.

    from infersight.collectors import query, open_readonly
    con = open_readonly("telemetry.duckdb")
    hits = query.search_spans(con, query.SpanSearch(service="demo-model-server", min_ns=500_000_000))
    spans = query.trace(con, hits[0]["trace_id"], around_ns=hits[0]["start_ns"])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import duckdb

__all__ = ["KINDS", "ORDERS", "RESOURCE_PREFIX", "SpanSearch", "TRACE_WINDOW_NS", "find_traces", "operations",
           "search_spans", "services", "time_range", "trace", "traces"]

#: span kinds as stored (``SpanKind`` column)
KINDS = ("Server", "Client", "Internal", "Producer", "Consumer", "Unspecified")
#: how far around a known span start the spans of its trace are looked for first
TRACE_WINDOW_NS = 10 * 60 * 10**9
#: attribute filter keys with this prefix match resource attributes
RESOURCE_PREFIX = "resource."
#: the two orders of a search (a column each, see search_spans.sql)
ORDERS = {"newest": '"Timestamp"', "slowest": '"Duration"'}
_ALL = (0, 4_102_444_800 * 10**9)  # 1970 .. 2100: "no bound" that make_timestamp_ns accepts


@functools.cache
def _sql(name: str) -> str:
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = con.execute(_sql(name), params)
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _window(from_ns: int | None, to_ns: int | None) -> dict[str, int]:
    return {"from_ns": _ALL[0] if from_ns is None else int(from_ns),
            "to_ns": _ALL[1] if to_ns is None else int(to_ns)}


def time_range(con: duckdb.DuckDBPyConnection) -> tuple[int | None, int | None, int]:
    """(first span start ns, last span start ns, span count); (None, None, 0) when empty."""
    row = _rows(con, "time_range", {})[0]
    return row["first_ns"], row["last_ns"], int(row["spans"] or 0)


def services(con: duckdb.DuckDBPyConnection, *, from_ns: int | None = None, to_ns: int | None = None) -> list[str]:
    """Every ``service.name`` with spans in the window, sorted."""
    return [r["service"] for r in _rows(con, "services", _window(from_ns, to_ns))]


def operations(con: duckdb.DuckDBPyConnection, service: str, *, kind: str | None = None,
               from_ns: int | None = None, to_ns: int | None = None) -> list[tuple[str, str]]:
    """(span name, span kind) pairs of ``service``, sorted."""
    rows = _rows(con, "operations", {"service": service, "kind": kind, **_window(from_ns, to_ns)})
    return [(r["name"], r["kind"]) for r in rows]


@dataclass(frozen=True)
class SpanSearch:
    """Filters of a trace search; ``None`` means "any". Durations in nanoseconds.

    ``attributes`` must all match (values compared as the stored strings: ``"200"``,
    ``"true"``): a key is a span attribute, ``resource.<key>`` a resource attribute
    (``resource.service.instance.id``); at most four span and two resource keys. ``status`` is
    ``"error"`` (status Error or an HTTP status >= 500) or ``"ok"``.
    """

    from_ns: int | None = None
    to_ns: int | None = None
    service: str | None = None
    name: str | None = None
    kind: str | None = None
    route: str | None = None
    status: str | None = None
    min_ns: int | None = None
    max_ns: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"unknown span kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.status not in (None, "error", "ok"):
            raise ValueError(f"status must be 'error' or 'ok', not {self.status!r}")
        span = [(k, str(v)) for k, v in self.attributes.items() if not k.startswith(RESOURCE_PREFIX)]
        res = [(k[len(RESOURCE_PREFIX):], str(v)) for k, v in self.attributes.items()
               if k.startswith(RESOURCE_PREFIX)]
        if len(span) > 4 or len(res) > 2:
            raise ValueError("at most four span attribute filters and two resource.* ones")
        slots: dict[str, str | None] = {}
        for i in range(4):
            slots[f"k{i + 1}"], slots[f"v{i + 1}"] = span[i] if i < len(span) else (None, None)
        for i in range(2):
            slots[f"r{i + 1}"], slots[f"w{i + 1}"] = res[i] if i < len(res) else (None, None)
        return {**_window(self.from_ns, self.to_ns), "service": self.service, "name": self.name,
                "kind": self.kind, "route": self.route, "status": self.status,
                "min_ns": self.min_ns, "max_ns": self.max_ns, **slots}


def search_spans(con: duckdb.DuckDBPyConnection, search: SpanSearch, *, slowest: bool = False,
                 limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """One page of matching spans (newest first, or slowest first), each with its trace id."""
    sql = _sql("search_spans").replace("{order}", ORDERS["slowest" if slowest else "newest"])
    cur = con.execute(sql, {**search.params(), "limit": max(0, int(limit)), "offset": max(0, int(offset))})
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def find_traces(con: duckdb.DuckDBPyConnection, search: SpanSearch, *, limit: int = 20) -> dict[str, int]:
    """The ``limit`` traces whose newest matching span is newest (the Jaeger search's answer):
    trace id -> start (ns) of that span, newest first.

    Reads matching spans newest first in growing pages until ``limit`` distinct traces are found
    (DuckDB keeps only the page: no aggregation over every match).
    """
    found: dict[str, int] = {}
    offset, page = 0, max(64, limit * 8)
    while len(found) < limit:
        rows = search_spans(con, search, limit=page, offset=offset)
        for r in rows:
            found.setdefault(r["trace_id"], int(r["start_ns"]))
            if len(found) == limit:
                break
        if len(rows) < page:
            break
        offset += page
        page *= 2
    return found


def traces(con: duckdb.DuckDBPyConnection, trace_ids: list[str], *, from_ns: int | None = None,
           to_ns: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """trace id -> its spans, oldest first (unknown ids are left out). ``from_ns``/``to_ns``: a
    window known to contain the spans, which makes the lookup read less (one scan for all ids)."""
    ids = sorted({t.lower() for t in trace_ids})
    out: dict[str, list[dict[str, Any]]] = {}
    if not ids:
        return out
    params = {"trace_ids": ids, **_window(from_ns, to_ns)}
    try:
        rows = _rows(con, "traces", params)
    except duckdb.BinderException:  # otel_traces is a view (a Parquet folder): no rowid
        rows = _rows(con, "traces_view", params)
    for r in rows:
        r["attributes"] = dict(r["attributes"] or {})
        r["resource"] = dict(r["resource"] or {})
        r["events"] = [{"time_ns": t, "name": n, "attributes": dict(a or {})}
                       for t, n, a in zip(r.pop("event_ns") or [], r.pop("event_names") or [],
                                          r.pop("event_attributes") or [], strict=False)]
        r["links"] = [{"trace_id": t, "span_id": s}
                      for t, s in zip(r.pop("link_trace_ids") or [], r.pop("link_span_ids") or [], strict=False)]
        out.setdefault(r["trace_id"], []).append(r)
    return out


def trace(con: duckdb.DuckDBPyConnection, trace_id: str, *, around_ns: int | None = None) -> list[dict[str, Any]]:
    """Every span of one trace, oldest first (empty when unknown).

    ``around_ns``: the start of one of its spans (search results carry it); the lookup first
    reads only the row groups within ``TRACE_WINDOW_NS`` of it, and the whole table only when
    that finds nothing or a span whose parent is missing.
    """
    tid = trace_id.lower()
    if around_ns is not None:
        spans = traces(con, [tid], from_ns=around_ns - TRACE_WINDOW_NS,
                       to_ns=around_ns + TRACE_WINDOW_NS).get(tid, [])
        ids = {s["span_id"] for s in spans}
        if spans and all(not s["parent_span_id"] or s["parent_span_id"] in ids for s in spans):
            return spans
    return traces(con, [tid]).get(tid, [])
