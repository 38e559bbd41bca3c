"""Critical path: cases written from Jaeger's and CRISP's published descriptions of the walk."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from infersight.analysis._critical_path import Span, critical_path, self_time_on_path


def _path(spans: list[Span]) -> list[tuple[str, int, int]]:
    return sorted(((s.span_id, s.start_ns, s.end_ns) for s in critical_path(spans)), key=lambda x: x[1])


def test_sequential_children_are_all_on_the_path_with_parent_gaps() -> None:
    spans = [Span("root", None, 0, 100), Span("a", "root", 10, 40), Span("b", "root", 50, 90)]
    assert _path(spans) == [("root", 0, 10), ("a", 10, 40), ("root", 40, 50), ("b", 50, 90),
                            ("root", 90, 100)]


def test_overlapping_child_that_finished_after_the_path_childs_start_is_off_the_path() -> None:
    # Jaeger: the last-finishing child (a) is what the parent waited for; b ran inside a's time.
    spans = [Span("root", None, 0, 100), Span("a", "root", 10, 70), Span("b", "root", 20, 60)]
    assert _path(spans) == [("root", 0, 10), ("a", 10, 70), ("root", 70, 100)]


def test_fan_out_join_waits_for_the_slowest_branch() -> None:
    # CRISP: parallel calls, the parent joins on the slowest, then a final sequential call.
    spans = [Span("root", None, 0, 100), Span("a", "root", 10, 50), Span("b", "root", 10, 80),
             Span("c", "root", 10, 60), Span("d", "root", 85, 95)]
    assert _path(spans) == [("root", 0, 10), ("b", 10, 80), ("root", 80, 85), ("d", 85, 95),
                            ("root", 95, 100)]


def test_nested_walk_descends_into_the_child_and_resumes_the_parent_at_its_start() -> None:
    spans = [Span("root", None, 0, 100), Span("a", "root", 10, 80), Span("a1", "a", 20, 50),
             Span("a2", "a", 40, 70)]
    assert _path(spans) == [("root", 0, 10), ("a", 10, 40), ("a2", 40, 70), ("a", 70, 80),
                            ("root", 80, 100)]


def test_child_overflowing_the_parent_is_clipped_to_it() -> None:
    # Jaeger sanitises children that end after (or start before) their parent.
    spans = [Span("root", None, 0, 100), Span("late", "root", 50, 150), Span("early", "root", -20, 30)]
    assert _path(spans) == [("early", 0, 30), ("root", 30, 50), ("late", 50, 100)]


def test_child_wholly_outside_the_parent_is_dropped() -> None:
    spans = [Span("root", None, 0, 100), Span("after", "root", 120, 150)]
    assert _path(spans) == [("root", 0, 100)]


def test_abutting_sequential_children_are_both_on_the_path() -> None:
    spans = [Span("root", None, 0, 100), Span("a", "root", 0, 50), Span("b", "root", 50, 100)]
    assert _path(spans) == [("a", 0, 50), ("b", 50, 100)]


def test_root_is_the_longest_parentless_span_and_orphans_are_ignored_as_children() -> None:
    spans = [Span("root", None, 0, 100), Span("orphan", "missing", 10, 20), Span("x", "root", 40, 60)]
    assert _path(spans) == [("root", 0, 40), ("x", 40, 60), ("root", 60, 100)]


def test_self_time_sums_per_operation() -> None:
    spans = [Span("root", None, 0, 100, "GET /", "api"), Span("a", "root", 10, 40, "db", "api"),
             Span("b", "root", 50, 90, "db", "api")]
    assert self_time_on_path(critical_path(spans)) == {("api", "GET /"): 30, ("api", "db"): 70}


@st.composite
def _trees(draw: st.DrawFn) -> list[Span]:
    spans = [Span("s0", None, 0, draw(st.integers(1, 1000)))]
    for i in range(1, draw(st.integers(1, 25))):
        parent = spans[draw(st.integers(0, len(spans) - 1))]
        start = draw(st.integers(parent.start_ns - 50, parent.end_ns + 50))
        spans.append(Span(f"s{i}", parent.span_id, start, start + draw(st.integers(0, 600))))
    return spans


@settings(max_examples=200, deadline=None)
@given(_trees())
def test_path_tiles_the_root_exactly_without_overlap(spans: list[Span]) -> None:
    segs = sorted(critical_path(spans), key=lambda s: s.start_ns)
    root = spans[0]
    assert segs[0].start_ns == root.start_ns and segs[-1].end_ns == root.end_ns
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.end_ns == b.start_ns
    assert sum(s.duration_ns for s in segs) == root.end_ns - root.start_ns
