"""Pure parts of the UI: time-range parsing, waterfall layout, SVG charts."""

from __future__ import annotations

import re

import pytest
from infersight.ui._svg import line_chart, scatter, sparkline
from infersight.ui._time import RangeError, parse_range
from infersight.ui._waterfall import layout

LAST = 1_764_000_000 * 10**9
NOW = LAST + 86_400 * 10**9


@pytest.mark.parametrize("raw,ns", [
    ("1764000000000", 1_764_000_000 * 10**9),           # Grafana ${__from}: epoch ms
    ("1764000000000000", 1_764_000_000 * 10**9),        # epoch us
    ("1764000000000000000", 1_764_000_000 * 10**9),     # epoch ns
    ("2025-11-24T16:00:00Z", 1_764_000_000 * 10**9),
    ("2025-11-24T16:00:00", 1_764_000_000 * 10**9),     # no offset: UTC
    ("30m", LAST - 1800 * 10**9),                       # back from the newest span
    ("now-1h", NOW - 3600 * 10**9),                     # back from the wall clock
])
def test_from_forms(raw: str, ns: int) -> None:
    assert parse_range(raw, "now", first_ns=0, last_ns=LAST, now_ns=NOW).from_ns == ns


def test_defaults_and_errors() -> None:
    tr = parse_range(None, None, first_ns=LAST - 600 * 10**9, last_ns=LAST, now_ns=NOW)
    assert (tr.from_ns, tr.to_ns) == (LAST - 600 * 10**9, LAST + 10**9)  # clipped to the first span
    tr = parse_range(None, None, first_ns=0, last_ns=LAST, now_ns=NOW)
    assert tr.to_ns - tr.from_ns == 3600 * 10**9
    assert parse_range("all", None, first_ns=5, last_ns=LAST, now_ns=NOW).from_ns == 5
    assert tr.query() == {"from": str(tr.from_ns // 10**6), "to": str(tr.to_ns // 10**6)}
    with pytest.raises(RangeError, match="cannot read time"):
        parse_range("last tuesday", None, first_ns=0, last_ns=LAST, now_ns=NOW)
    with pytest.raises(RangeError, match="must be after"):
        parse_range("2000", "1000", first_ns=0, last_ns=LAST, now_ns=NOW)


def span(sid: str, parent: str, start_ms: float, dur_ms: float, **kw: object) -> dict[str, object]:
    return {"span_id": sid, "parent_span_id": parent, "start_ns": int(start_ms * 1e6), "duration_ns": int(dur_ms * 1e6),
            "service": kw.pop("service", "svc"), "name": sid, "kind": kw.pop("kind", "Internal"), "status": "Unset",
            "attributes": kw.pop("attributes", {}), "events": kw.pop("events", []), **kw}


def test_waterfall_tree_order_offsets_and_marks() -> None:
    spans = [span("c2", "root", 60, 40), span("root", "", 0, 100, kind="Server",
                                              attributes={"gen_ai.usage.input_tokens": "7",
                                                          "infersight.gpu.energy_j": "1.5"},
                                              events=[{"time_ns": 20_000_000, "name": "gc.pause",
                                                       "attributes": {"duration_ms": "10"}}]),
             span("c1", "root", 10, 30), span("g1", "c1", 20, 5, service="other"), span("orphan", "gone", 50, 1)]
    wf = layout(spans, [{"start_ns": -50_000_000, "duration_ns": 100_000_000, "trace_id": "t", "span_id": "j",
                         "service": "svc", "name": "job", "kind": "Internal", "status": "Unset", "attributes": {}}])
    assert [(r.span["span_id"], r.depth) for r in wf.rows] == [("root", 0), ("c1", 1), ("g1", 2), ("c2", 1),
                                                                ("orphan", 0)]
    by = {r.span["span_id"]: r for r in wf.rows}
    assert by["c1"].left == pytest.approx(10.0) and by["c1"].width == pytest.approx(30.0)
    assert by["c2"].left == pytest.approx(60.0) and by["c2"].width == pytest.approx(40.0)
    (mark,) = by["root"].marks
    assert (mark.css, mark.left, mark.width) == ("ev-gc", pytest.approx(20.0), pytest.approx(10.0))
    assert wf.services == {"svc": wf.rows[0].color, "other": by["g1"].color} and by["g1"].color != wf.rows[0].color
    assert wf.summary["gc_ms"] == 10 and wf.summary["tokens_in"] == 7
    assert wf.summary["gpu"] == [("GPU energy", 1.5, "J")]
    (other,) = wf.others
    assert other.clipped and other.left == 0.0 and other.width == pytest.approx(50.0)
    assert wf.ticks(4)[-1] == (100.0, "100 ms")


def test_svg_charts_escape_and_scale() -> None:
    svg = line_chart([("<b>x</b>", [1.0, None, 3.0], "#123456")], ["a", "b", "c"], title="t<")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "t&lt;" in svg
    (d,) = re.findall(r'<path d="([^"]*)"', svg)
    assert d.count("M") == 2  # a gap (None) lifts the pen
    assert "<path" in sparkline([1, 2, 3]) and "<path" not in sparkline([None, None])
    dots = scatter([(5, 10.0, "/ui/trace/a?t=5", False), (9, 1000.0, "/ui/trace/b", True)], from_ns=0, to_ns=10,
                   title="x")
    assert dots.count("<circle") == 2 and 'class="dot err"' in dots
