"""Critical path of a trace (Jaeger's last-finishing-child walk) and its aggregate over traces.

The walk, as Jaeger's trace view and the CRISP paper (Zhang et al., USENIX ATC '22) describe it:
start at the root's end; the child that finished last before the current point in time is on the
path; the parent's own time between that child's end and the current point is on the path; walk
into the child the same way; then continue in the parent from the child's *start*, looking for the
child that finished last before it. Children that overlap the one on the path and finished after
its start are not on the path (they were not what the parent was waiting for). Children are
first clipped to their parent's bounds and those wholly outside it dropped (clock skew).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    name: str = ""
    service: str = ""


@dataclass(frozen=True)
class Segment:
    """A stretch of time on the critical path spent in ``span_id``'s own work."""

    span_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def _as_span(row: Span | Mapping[str, Any]) -> Span:
    if isinstance(row, Span):
        return row
    parent = row.get("parent_span_id")
    return Span(str(row["span_id"]), str(parent) if parent not in (None, "") and parent == parent else None,
                int(row["start_ns"]), int(row["end_ns"]), str(row.get("name") or ""),
                str(row.get("service") or ""))


def critical_path(spans: Iterable[Span | Mapping[str, Any]], root_id: str | None = None) -> list[Segment]:
    """The critical path of one trace as segments, latest first.

    ``spans`` are the trace's spans (``Span`` or mappings with span_id, parent_span_id, start_ns,
    end_ns, name, service). The root is ``root_id`` or the longest span without a (known) parent.
    """
    by_id = {s.span_id: s for s in map(_as_span, spans)}
    if not by_id:
        return []
    children: dict[str, list[Span]] = {}
    for s in by_id.values():
        if s.parent_span_id is not None and s.parent_span_id in by_id:
            children.setdefault(s.parent_span_id, []).append(s)
    if root_id is None:
        roots = [s for s in by_id.values() if s.parent_span_id is None or s.parent_span_id not in by_id]
        root = max(roots, key=lambda s: (s.end_ns - s.start_ns, -s.start_ns))
    else:
        root = by_id[root_id]
    out: list[Segment] = []
    # explicit stack instead of recursion: deep traces must not hit the recursion limit
    # frame: (span clipped to its parent, time cursor in it, its clipped children sorted by end desc)
    stack: list[tuple[Span, int, list[Span]]] = [(root, root.end_ns, _clipped_children(root, children))]
    while stack:
        span, cursor, kids = stack.pop()
        nxt = next((c for c in kids if c.end_ns <= cursor and c.end_ns > span.start_ns), None)
        if nxt is None:
            if cursor > span.start_ns:
                out.append(Segment(span.span_id, span.name, span.service, span.start_ns, cursor))
            continue
        if cursor > nxt.end_ns:
            out.append(Segment(span.span_id, span.name, span.service, nxt.end_ns, cursor))
        remaining = [c for c in kids if c is not nxt]
        stack.append((span, nxt.start_ns, remaining))  # resume the parent at the child's start
        stack.append((nxt, nxt.end_ns, _clipped_children(nxt, children)))
    return out


def _clipped_children(parent: Span, children: dict[str, list[Span]]) -> list[Span]:
    kids = []
    for c in children.get(parent.span_id, ()):
        start, end = max(c.start_ns, parent.start_ns), min(c.end_ns, parent.end_ns)
        if end <= start and not (c.start_ns == c.end_ns and parent.start_ns <= c.start_ns <= parent.end_ns):
            continue  # wholly outside the parent
        kids.append(Span(c.span_id, c.parent_span_id, start, end, c.name, c.service))
    kids.sort(key=lambda c: (c.end_ns, c.start_ns), reverse=True)
    return kids


def self_time_on_path(segments: Iterable[Segment]) -> dict[tuple[str, str], int]:
    """Critical-path nanoseconds per (service, operation) of one trace."""
    acc: dict[tuple[str, str], int] = {}
    for seg in segments:
        key = (seg.service, seg.name)
        acc[key] = acc.get(key, 0) + seg.duration_ns
    return acc


__all__ = ["Segment", "Span", "critical_path", "self_time_on_path"]
