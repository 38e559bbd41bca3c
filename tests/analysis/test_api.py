"""The Python API (connect, spans, traces, metrics, latency_over_time, compare, critical paths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from infersight.analysis import connect
from infersight.analysis._errors import NoDataError, UsageError

from tests.analysis._synth import MS, T0, Builder, S


@pytest.fixture
def two_routes(tmp_path: Path) -> Path:
    b = Builder(seed=3)
    # /a: 10 ms in minute 0, 100 ms in minute 1; /b: always 5 ms. 60 requests per minute each.
    for minute, a_ms in ((0, 10), (1, 100)):
        for i in range(60):
            t = T0 + minute * 60 * S + i * S
            tid, sid = b.request("/a", t, a_ms * MS, attrs={"model": "big" if minute else "small"})
            b.span(tid, "db.query", t + 1 * MS, (a_ms - 2) * MS, parent=sid, kind="Client",
                   attrs={"db.system": "postgresql"})
            b.request("/b", t, 5 * MS)
    b.gauge("hw.gpu.utilization", T0, 0.5, {"hw.id": "0"})
    return b.write(tmp_path / "t.duckdb")


def test_latency_over_time_per_route_per_minute(two_routes: Path) -> None:
    with connect(two_routes) as t:
        df = t.latency_over_time(q=0.99, step="1m")
        a = df[df.route == "/a"].sort_values("bucket_ns")
        assert list(a.requests) == [60, 60]
        assert list(np.round(a.latency_ms, 6)) == [10.0, 100.0]
        assert set(df[df.route == "/b"].latency_ms) == {5.0}
        only_b = t.latency_over_time(route="/b", step="1m")
        assert set(only_b.route) == {"/b"}


def test_route_and_since_filters(two_routes: Path) -> None:
    with connect(two_routes, since="60s", route="/a") as t:
        df = t.latency_over_time(step="1m")
        assert list(df.route.unique()) == ["/a"] and df.requests.sum() == 60


def test_spans_traces_and_metrics(two_routes: Path) -> None:
    with connect(two_routes) as t:
        assert len(t.spans()) == 360
        traces = t.traces(limit=5)
        assert len(traces) == 5 and traces.duration_ms.iloc[0] == pytest.approx(100.0)
        one = t.spans(trace_id=traces.trace_id.iloc[0])
        assert sorted(one.kind) == ["client", "server"]
        m = t.metrics("hw.gpu.utilization")
        assert list(m.value) == [0.5]


def test_compare_names_what_slow_traces_have_in_common(two_routes: Path) -> None:
    with connect(two_routes) as t:
        diff = t.compare("slow", threshold_ms=50)
        top = diff.iloc[0]
        assert (top.key, top.value) in {("model", "big"), ("model", "small")}
        assert abs(top.difference) == pytest.approx(1.0)
        big = diff[(diff.key == "model") & (diff.value == "big")].iloc[0]
        assert big.selection_share == 1.0 and big.baseline_share == 0.0


def test_critical_path_and_aggregate(two_routes: Path) -> None:
    with connect(two_routes) as t:
        slow = t.traces(limit=1).trace_id.iloc[0]
        cp = t.critical_path(slow)
        assert list(cp.name) == ["POST /a", "db.query", "POST /a"]
        assert cp.duration_ms.sum() == pytest.approx(100.0)
        agg = t.aggregate_critical_path(min_duration_ms=50)
        top = agg.iloc[0]
        assert top["name"] == "db.query" and top.share == pytest.approx(98 / 100)
        with pytest.raises(NoDataError):
            t.critical_path("no-such-trace")


def test_bad_arguments_are_usage_errors(two_routes: Path) -> None:
    with connect(two_routes) as t:
        with pytest.raises(UsageError):
            t.latency_over_time(q=99)
        with pytest.raises(UsageError):
            t.latency_over_time(step="soon")
    with pytest.raises(UsageError):
        connect(two_routes, since="yesterday-ish")
