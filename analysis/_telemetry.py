"""The Python API over one telemetry source: ``infersight.analysis.connect(...)``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._connect import open_checked
from infersight.analysis._critical_path import critical_path as _walk
from infersight.analysis._critical_path import self_time_on_path
from infersight.analysis._engine import Engine
from infersight.analysis._errors import NoDataError, UsageError
from infersight.analysis._timeparse import parse_duration_ns, parse_instant_ns

log = logging.getLogger(__name__)

_FEATURES = ("features/f_requests", "features/f_jobs", "features/f_runtime_events",
             "features/f_cache_calls", "features/f_pool_waits")
#: built only when asked for (notebooks: ``feature(tel, "client_calls")``)
_LAZY_FEATURES = ("features/f_client_calls",)


def _ts(ns: pd.Series) -> pd.Series:
    return pd.to_datetime(ns, unit="ns", utc=True)


class Telemetry:
    """A read-only view of one telemetry source with typed staging views and feature tables.

    Time filters (``since``/``until``) accept a duration counted back from the newest span
    (``"30m"``) or an ISO time; ``route`` limits requests to one ``http.route``.
    """

    def __init__(self, con: Engine, *, source: str, schema_version: int,
                 since: str | None = None, until: str | None = None, route: str | None = None,
                 baseline: str | None = None) -> None:
        self.con = con
        self.source = source
        self.schema_version = schema_version
        first, last, n = _sql.first_row(con, _sql.load("features/time_range")) or (None, None, 0)
        self.span_count = int(n or 0)
        self.first_ns = int(first) if first is not None else None
        self.last_ns = int(last) if last is not None else None
        self.route = route
        self.since_ns, self.until_ns = self._window(since, until)
        self.explicit_since = since is not None
        self.baseline_ns = self._baseline(baseline)
        self.range_since_ns = self._range_start()
        self._features_built = False
        self._lazy_built: set[str] = set()

    # -- window and features ---------------------------------------------------------------
    def _window(self, since: str | None, until: str | None) -> tuple[int, int]:
        if self.first_ns is None or self.last_ns is None:
            return 0, 0
        lo = parse_instant_ns(since, latest_ns=self.last_ns) if since else self.first_ns
        hi = parse_instant_ns(until, latest_ns=self.last_ns) if until else self.last_ns + 1
        if hi <= lo:
            raise UsageError("the time range is empty: --until must be after --since")
        return lo, hi

    def _baseline(self, text: str | None) -> tuple[int, int] | None:
        """``--baseline START..END`` (each an ISO time or a duration back from the newest data)."""
        if not text:
            return None
        if ".." not in text:
            raise UsageError(f"--baseline must be START..END, got {text!r}")
        a, _, b = text.partition("..")
        if self.last_ns is None:
            return None
        lo = parse_instant_ns(a.strip(), latest_ns=self.last_ns)
        hi = parse_instant_ns(b.strip(), latest_ns=self.last_ns)
        if hi <= lo:
            raise UsageError("the baseline is empty: its end must be after its start")
        return lo, hi

    def _range_start(self) -> int:
        """Start of the analysis range: the window plus, before an explicit --since, the same
        length of time again (the baseline), plus an explicit --baseline."""
        lo = self.since_ns
        if self.explicit_since and self.first_ns is not None:
            lo = max(self.first_ns, self.since_ns - (self.until_ns - self.since_ns))
        if self.baseline_ns is not None:
            lo = min(lo, self.baseline_ns[0])
        return lo

    @property
    def params(self) -> dict[str, Any]:
        """The window asked for (the API's queries: spans, traces, metrics, latency_over_time)."""
        return {"since_ns": self.since_ns, "until_ns": self.until_ns, "route": self.route}

    @property
    def range_params(self) -> dict[str, Any]:
        """The analysis range (window + baseline): feature tables and detectors."""
        from infersight.analysis._context import WARMUP_NS

        return {"since_ns": self.range_since_ns, "until_ns": self.until_ns, "route": self.route,
                "window_ns": self.since_ns, "warmup_ns": WARMUP_NS}

    def require_data(self) -> None:
        """Raise :class:`NoDataError` when the source or the selected window has no requests."""
        if self.span_count == 0:
            raise NoDataError(f"{self.source} holds no spans")
        self.build_features()
        n = _sql.first_row(self.con, "SELECT count(*) FROM f_requests WHERE in_window")
        if not n or not n[0]:
            where = f" for route {self.route!r}" if self.route else ""
            raise NoDataError(
                f"no requests (SERVER spans) in {self.source}{where} between "
                f"{_ts(pd.Series([self.since_ns]))[0]:%Y-%m-%d %H:%M:%S} and "
                f"{_ts(pd.Series([self.until_ns]))[0]:%Y-%m-%d %H:%M:%S} UTC "
                f"(data covers {self.describe_range()})"
            )

    def describe_range(self) -> str:
        if self.first_ns is None or self.last_ns is None:
            return "nothing"
        a, b = _ts(pd.Series([self.first_ns, self.last_ns]))
        return f"{a:%Y-%m-%d %H:%M:%S} to {b:%Y-%m-%d %H:%M:%S} UTC"

    def build_features(self, *, lazy: str | None = None) -> None:
        """Materialise the feature tables (``f_*``) for the window once; ``lazy`` also builds one
        of the tables the detectors do not need (``features/f_client_calls``)."""
        if not self._features_built:
            for name in _FEATURES:
                _sql.execute(self.con, name, **self.range_params)
            self._features_built = True
        if lazy in _LAZY_FEATURES and lazy not in self._lazy_built:
            _sql.execute(self.con, lazy, **self.range_params)
            self._lazy_built.add(lazy)

    def query(self, name: str, **params: Any) -> pd.DataFrame:
        """Run one of the analysis ``.sql`` files (``"features/x"``) with the window's params."""
        return _sql.run(self.con, name, **{**self.params, **params})

    # -- the small API ----------------------------------------------------------------------
    def spans(self, trace_id: str | None = None, limit: int = 100_000) -> pd.DataFrame:
        """Spans in the window (or of one trace), oldest first, with ``start``/``end`` timestamps."""
        df = self.query("features/spans", trace_id=trace_id, limit=int(limit))
        return _with_times(df)

    def traces(self, min_duration_ms: float = 0.0, limit: int = 1000) -> pd.DataFrame:
        """One row per request trace in the window, slowest first."""
        self.build_features()
        return _with_times(self.query("features/traces", min_ms=float(min_duration_ms), limit=int(limit)))

    def metrics(self, name: str | None = None, *, histograms: bool = False) -> pd.DataFrame:
        """Metric data points (gauges and sums, or histograms) in the window."""
        df = self.query("features/histograms" if histograms else "features/metrics", metric=name)
        df["time"] = _ts(df["ts_ns"])
        return df

    def latency_over_time(self, route: str | None = None, q: float = 0.99, step: str = "1m") -> pd.DataFrame:
        """The ``q``-quantile of request latency (ms) per route per ``step``."""
        if not 0.0 < float(q) < 1.0:
            raise UsageError(f"quantile q must be between 0 and 1, got {q!r}")
        self.build_features()
        df = self.query("features/latency_over_time", step_ns=parse_duration_ns(step), q=float(q),
                        route=route if route is not None else self.route)
        df["time"] = _ts(df["bucket_ns"])
        return df

    def compare(self, selection: Iterable[str] | str = "slow", baseline: Iterable[str] | None = None,
                *, threshold_ms: float | None = None) -> pd.DataFrame:
        """What differs between the ``selection`` traces and the ``baseline`` traces.

        ``selection`` is a list of trace ids or ``"slow"`` (requests at or above ``threshold_ms``,
        default the window's P99); ``baseline`` defaults to every other request trace.
        """
        self.build_features()
        if isinstance(selection, str):
            if selection != "slow":
                raise UsageError("selection must be a list of trace ids or 'slow'")
            reqs = _sql.query(self.con, "SELECT trace_id, latency_ms AS duration_ms FROM f_requests WHERE in_window")
            if reqs.empty:
                return pd.DataFrame()
            cut = threshold_ms if threshold_ms is not None else float(reqs["duration_ms"].quantile(0.99))
            sel = sorted(set(reqs.loc[reqs["duration_ms"] >= cut, "trace_id"]))
        else:
            sel = sorted(set(selection))
        if baseline is None:
            all_ids = self.con.rows("SELECT DISTINCT trace_id FROM f_requests WHERE in_window")
            chosen = set(sel)
            base = sorted(t for (t,) in all_ids if t not in chosen)
        else:
            base = sorted(set(baseline))
        return self.query("features/compare", selection=sel, baseline=base)

    def critical_path(self, trace_id: str) -> pd.DataFrame:
        """The critical path of one trace: one row per segment, in time order."""
        spans = self.query("features/trace_spans", trace_ids=[trace_id])
        if spans.empty:
            raise NoDataError(f"no spans for trace {trace_id!r}")
        segs = sorted(_walk(spans.to_dict("records")), key=lambda s: s.start_ns)
        df = pd.DataFrame([{"span_id": s.span_id, "service": s.service, "name": s.name,
                            "start_ns": s.start_ns, "end_ns": s.end_ns,
                            "duration_ms": s.duration_ns / 1e6} for s in segs])
        return _with_times(df)

    def aggregate_critical_path(self, trace_ids: Sequence[str] | None = None, *, limit: int = 1000,
                                min_duration_ms: float = 0.0) -> pd.DataFrame:
        """Critical-path time per (service, operation) summed over many traces.

        ``trace_ids`` defaults to the ``limit`` slowest request traces in the window at or above
        ``min_duration_ms``. Columns: service, name, critical_ms, share (of all critical time),
        traces (how many traces had it on the path), mean_ms_per_trace.
        """
        if trace_ids is None:
            trace_ids = list(self.traces(min_duration_ms=min_duration_ms, limit=limit)["trace_id"])
        if not trace_ids:
            return pd.DataFrame(columns=["service", "name", "critical_ms", "share", "traces",
                                         "mean_ms_per_trace"])
        spans = self.query("features/trace_spans", trace_ids=list(trace_ids))
        totals: dict[tuple[str, str], list[float]] = {}
        for _, group in spans.groupby("trace_id", sort=False):
            for key, ns in self_time_on_path(_walk(group.to_dict("records"))).items():
                acc = totals.setdefault(key, [0.0, 0.0])
                acc[0] += ns / 1e6
                acc[1] += 1
        df = pd.DataFrame([{"service": k[0], "name": k[1], "critical_ms": v[0], "traces": int(v[1])}
                           for k, v in totals.items()])
        df["share"] = df["critical_ms"] / df["critical_ms"].sum()
        df["mean_ms_per_trace"] = df["critical_ms"] / len(trace_ids)
        return df.sort_values("critical_ms", ascending=False, ignore_index=True)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_times(df: pd.DataFrame) -> pd.DataFrame:
    for col, new in (("start_ns", "start"), ("end_ns", "end")):
        if col in df.columns:
            df[new] = _ts(df[col])
    return df


def connect(source: str | Path, *, since: str | None = None, until: str | None = None,
            route: str | None = None, baseline: str | None = None, token: str | None = None) -> Telemetry:
    """Open a telemetry DuckDB file, a Parquet directory or a running collector's URL read-only.

    ``since``/``until`` select the window to diagnose; ``baseline`` (``START..END``) the stretch of
    time it is compared with (default: found automatically, see ``_incident``); ``token``: a
    running collector's bearer token (default ``$INFERSIGHT_TOKEN``).
    """
    # a running collector sends only rows from before --since on (the window and the same length
    # of time before it, the baseline); an explicit --baseline may lie anywhere: read it all
    con, version = open_checked(source, token=token, since=None if baseline else since)
    try:
        return Telemetry(con, source=str(source), schema_version=version, since=since, until=until,
                         route=route, baseline=baseline)
    except BaseException:
        con.close()
        raise
