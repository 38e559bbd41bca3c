"""Lay out one trace as waterfall rows: tree order, bar offsets and widths in % of the trace.

Spans are placed depth first under their parent (a span whose parent is not in the trace is a
root), children by start time. Span events become marks on their span's bar; ``gc.pause``
(``duration_ms``) and ``event_loop.blocked`` (``lag_ms``) events are drawn as long as the pause
or block they record. Other traces' spans that overlapped this one (background jobs, pauses)
are laid out on the same time axis, clipped to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
           "#e15759")
# event name -> (attribute holding its length in ms, css class)
TIMED_EVENTS = {"gc.pause": ("duration_ms", "ev-gc"), "event_loop.blocked": ("lag_ms", "ev-loop")}
GPU_ATTRS = (("infersight.gpu.energy_j", "GPU energy", "J"), ("infersight.gpu.cost_usd", "GPU cost", "USD"),
             ("infersight.gpu.seconds", "GPU seconds", "s"))


@dataclass
class Mark:
    name: str
    left: float
    width: float
    css: str
    title: str


@dataclass
class Row:
    span: dict[str, Any]
    depth: int
    left: float
    width: float
    color: str
    marks: list[Mark] = field(default_factory=list)
    clipped: bool = False

    @property
    def error(self) -> bool:
        s = self.span
        code = str((s.get("attributes") or {}).get("http.response.status_code", ""))
        return s.get("status") == "Error" or (code.isdigit() and int(code) >= 500)


@dataclass
class Waterfall:
    rows: list[Row]
    start_ns: int
    end_ns: int
    services: dict[str, str]
    summary: dict[str, Any]
    others: list[Row] = field(default_factory=list)  # other traces' spans that overlapped

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def ticks(self, n: int = 5) -> list[tuple[float, str]]:
        """(left %, label) for the time axis."""
        total = max(1, self.end_ns - self.start_ns)
        return [(100.0 * i / n, _ms_label(total * i / n / 1e6)) for i in range(n + 1)]


def _ms_label(ms: float) -> str:
    if ms == 0:
        return "0"
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _marks(span: dict[str, Any], t0: int, total: int) -> list[Mark]:
    out = []
    for ev in span.get("events") or []:
        attr, css = TIMED_EVENTS.get(ev["name"], ("", "ev"))
        length_ms = _num((ev.get("attributes") or {}).get(attr)) if attr else None
        width = 100.0 * (length_ms or 0.0) * 1e6 / total
        left = 100.0 * (int(ev["time_ns"]) - t0) / total
        left = min(100.0, max(0.0, left))
        width = min(100.0 - left, max(0.0, width))
        attrs = ", ".join(f"{k}={v}" for k, v in sorted((ev.get("attributes") or {}).items()) if k != "stack")
        title = f"{ev['name']} at +{(int(ev['time_ns']) - t0) / 1e6:.1f} ms" + (f" ({attrs})" if attrs else "")
        out.append(Mark(ev["name"], left, width, css, title))
    return out


def _summary(spans: list[dict[str, Any]]) -> dict[str, Any]:
    gpu: dict[str, float] = {}
    for s in spans:
        attrs = s.get("attributes") or {}
        for key, _label, _unit in GPU_ATTRS:
            v = _num(attrs.get(key))
            if v is not None:
                gpu[key] = gpu.get(key, 0.0) + v
    tokens_in = sum(_num((s.get("attributes") or {}).get("gen_ai.usage.input_tokens")) or 0.0 for s in spans
                    if s.get("kind") == "Server")
    tokens_out = sum(_num((s.get("attributes") or {}).get("gen_ai.usage.output_tokens")) or 0.0 for s in spans
                     if s.get("kind") == "Server")
    gc_ms = sum(_num((e.get("attributes") or {}).get("duration_ms")) or 0.0
                for s in spans for e in s.get("events") or [] if e["name"] == "gc.pause")
    loop_ms = sum(_num((e.get("attributes") or {}).get("lag_ms")) or 0.0
                  for s in spans for e in s.get("events") or [] if e["name"] == "event_loop.blocked")
    queued = [_num((s.get("attributes") or {}).get("infersight.loop.queued_ms")) for s in spans]
    return {"gpu": [(label, gpu[key], unit) for key, label, unit in GPU_ATTRS if key in gpu],
            "tokens_in": int(tokens_in), "tokens_out": int(tokens_out), "gc_ms": gc_ms, "loop_ms": loop_ms,
            "queued_ms": max((q for q in queued if q is not None), default=None)}


def layout(spans: list[dict[str, Any]], concurrent: list[dict[str, Any]] | None = None) -> Waterfall:
    """Waterfall rows of one trace (``query.trace`` rows), then of ``concurrent`` spans."""
    if not spans:
        return Waterfall([], 0, 0, {}, _summary([]))
    t0 = min(int(s["start_ns"]) for s in spans)
    t1 = max(int(s["start_ns"]) + int(s["duration_ns"]) for s in spans)
    total = max(1, t1 - t0)
    services: dict[str, str] = {}
    for s in sorted(spans, key=lambda s: int(s["start_ns"])):
        services.setdefault(s["service"] or "?", PALETTE[len(services) % len(PALETTE)])
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for s in spans:
        parent = s.get("parent_span_id") or ""
        if parent and parent in ids and parent != s["span_id"]:
            children.setdefault(parent, []).append(s)
        else:
            roots.append(s)
    rows: list[Row] = []
    seen: set[str] = set()

    def walk(s: dict[str, Any], depth: int) -> None:
        if s["span_id"] in seen:  # a cycle in bad data: show each span once
            return
        seen.add(s["span_id"])
        left = 100.0 * (int(s["start_ns"]) - t0) / total
        width = max(0.15, 100.0 * int(s["duration_ns"]) / total)
        rows.append(Row(s, depth, left, min(width, 100.0 - left), services[s["service"] or "?"],
                        _marks(s, t0, total)))
        for c in sorted(children.get(s["span_id"], []), key=lambda c: (int(c["start_ns"]), c["span_id"])):
            walk(c, depth + 1)

    for r in sorted(roots, key=lambda r: (int(r["start_ns"]), r["span_id"])):
        walk(r, 0)
    for s in spans:  # spans only reachable through a cycle
        if s["span_id"] not in seen:
            walk(s, 0)
    others = []
    for c in sorted(concurrent or [], key=lambda c: int(c["start_ns"])):
        start, end = int(c["start_ns"]), int(c["start_ns"]) + int(c["duration_ns"])
        left = max(0.0, 100.0 * (start - t0) / total)
        right = min(100.0, 100.0 * (end - t0) / total)
        others.append(Row(c, 0, left, max(0.15, right - left), "#8c8c8c", [], clipped=start < t0 or end > t1))
    return Waterfall(rows, t0, t1, services, _summary(spans), others)


__all__ = ["Mark", "Row", "Waterfall", "layout"]
