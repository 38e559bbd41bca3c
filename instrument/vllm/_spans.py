"""What infersight adds to vLLM's ``llm_request`` spans, done at export time.

vLLM creates one SERVER span ``llm_request`` per finished request, after the fact, with
``gen_ai.latency.*`` durations and ``gen_ai.usage.*`` token counts. :class:`VllmSpanExporter`
wraps the real exporter; on the exporter's background thread (never on the request path) it

* adds ``infersight.gc.pause_ms`` / ``infersight.gc.pause_count`` (this process's GC pauses
  that overlapped the request) with a ``gc.pause`` event per long pause, and
  ``event_loop.blocked`` events for loop stalls that overlapped it;
* adds GPU energy / GPU-seconds / cost from a :class:`~._vllm_gpu.TokenEnergyLedger`;
* emits reconstructed child spans ``vllm.preprocess``, ``vllm.queue``, ``vllm.prefill`` and
  ``vllm.decode`` (attribute ``infersight.reconstructed=true``) so trace views and the
  critical path show the phases. vLLM reports durations only, so the phases are laid out
  backwards from the span's end (decode ends when the request ends) and clamped to the span.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanContext, SpanKind

logger = logging.getLogger(__name__)

LLM_REQUEST = "llm_request"
QUEUE = "gen_ai.latency.time_in_queue"
PREFILL = "gen_ai.latency.time_in_model_prefill"
DECODE = "gen_ai.latency.time_in_model_decode"
E2E = "gen_ai.latency.e2e"
PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
PHASES = ("preprocess", "queue", "prefill", "decode")
_MIN_PHASE_NS = 1_000  # a phase shorter than 1 µs is not worth a span
_ids = RandomIdGenerator()


def _seconds(attrs: Any, key: str) -> float | None:
    value = attrs.get(key) if attrs is not None else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value >= 0 else None


def phase_windows(span: ReadableSpan) -> list[tuple[str, int, int]]:
    """``(phase, start_ns, end_ns)`` reconstructed from ``gen_ai.latency.*`` (may be empty)."""
    start, end = span.start_time, span.end_time
    attrs = span.attributes
    if start is None or end is None or end <= start:
        return []
    queue, prefill, decode = _seconds(attrs, QUEUE), _seconds(attrs, PREFILL), _seconds(attrs, DECODE)
    if queue is None or prefill is None or decode is None:
        return []
    out: list[tuple[str, int, int]] = []
    cursor = end
    for name, dur_s in (("decode", decode), ("prefill", prefill), ("queue", queue)):
        begin = max(start, cursor - int(dur_s * 1e9))
        if cursor - begin >= _MIN_PHASE_NS:
            out.append((name, begin, cursor))
        cursor = begin
    if cursor - start >= _MIN_PHASE_NS:
        out.append(("preprocess", start, cursor))
    out.reverse()
    return out


def phase_spans(span: ReadableSpan) -> list[ReadableSpan]:
    """Child spans of ``span`` for each reconstructed phase."""
    ctx = span.context
    if ctx is None:
        return []
    request_id = span.attributes.get("gen_ai.request.id") if span.attributes else None
    children = []
    for name, begin, finish in phase_windows(span):
        child_ctx = SpanContext(trace_id=ctx.trace_id, span_id=_ids.generate_span_id(),
                                is_remote=False, trace_flags=ctx.trace_flags, trace_state=ctx.trace_state)
        attrs: dict[str, Any] = {"infersight.phase": name, "infersight.reconstructed": True}
        if request_id is not None:
            attrs["gen_ai.request.id"] = request_id
        children.append(ReadableSpan(
            name=f"vllm.{name}", context=child_ctx, parent=ctx, resource=span.resource,
            attributes=attrs, kind=SpanKind.INTERNAL, start_time=begin, end_time=finish,
            instrumentation_scope=span.instrumentation_scope))
    return children


def gc_overlap(monitor: Any, start_ns: int, end_ns: int, *, chunk: int = 64
               ) -> tuple[float, int, list[tuple[int, int, int]]]:
    """``(pause_ms, count, pauses)`` of the monitor's GC pauses overlapping [start_ns, end_ns].

    Walks the monitor's ring backwards (pauses are in start order) and stops at the first
    chunk that begins before the window, so the cost is the pauses in the window, not the ring.
    """
    total_ns, found = 0, []
    stop = monitor.count
    floor = max(0, stop - monitor.ring_size)
    while stop > floor:
        first = max(floor, stop - chunk)
        pauses = monitor.pauses_since(first, stop)
        for p_start, p_dur, gen in pauses:
            p_end = p_start + p_dur
            if p_start < end_ns and p_end > start_ns:
                total_ns += min(p_end, end_ns) - max(p_start, start_ns)
                found.append((p_start, p_dur, gen))
        if pauses and pauses[0][0] + pauses[0][1] < start_ns:
            break
        stop = first
    found.sort()
    return total_ns / 1e6, len(found), found


class _EventSink:
    """Stands in for a live span so the loop-lag monitor's ``annotate`` can add events."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.attributes: dict[str, Any] = {}

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        self.events.append(Event(name, attributes, timestamp))

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value


class VllmSpanEnricher:
    """Builds the enriched copy of an ``llm_request`` span plus its phase children."""

    def __init__(self, *, gc_monitor: Any = None, loop_monitor: Any = None, ledger: Any = None,
                 phases: bool = True) -> None:
        self.gc_monitor = gc_monitor
        self.loop_monitor = loop_monitor
        self.ledger = ledger
        self.phases = phases
        self.errors = 0

    def enrich(self, span: ReadableSpan) -> list[ReadableSpan]:
        if span.name != LLM_REQUEST or span.start_time is None or span.end_time is None:
            return [span]
        try:
            return [self._copy(span), *(phase_spans(span) if self.phases else [])]
        except Exception:  # never lose the span because an addition failed
            self.errors += 1
            if self.errors == 1:
                logger.warning("infersight: enriching an llm_request span failed; exporting it as is",
                               exc_info=True)
            return [span]

    def _copy(self, span: ReadableSpan) -> ReadableSpan:
        start, end = int(span.start_time or 0), int(span.end_time or 0)
        attrs: dict[str, Any] = dict(span.attributes or {})
        events = list(span.events)
        if self.gc_monitor is not None:
            pause_ms, count, pauses = gc_overlap(self.gc_monitor, start, end)
            attrs["infersight.gc.pause_ms"] = pause_ms
            attrs["infersight.gc.pause_count"] = count
            threshold = getattr(self.gc_monitor, "threshold_ns", 0)
            for p_start, p_dur, gen in pauses:
                if p_dur >= threshold:
                    events.append(Event("gc.pause", {"cpython.gc.generation": int(gen), "duration_ms": p_dur / 1e6},
                                        p_start))
        if self.loop_monitor is not None:
            sink = _EventSink()
            self.loop_monitor.annotate(sink, 0, start, end)
            blocked = [e for e in sink.events if not (e.attributes or {}).get("in_progress")]
            events.extend(blocked)
            blocked_ms = 0.0
            for e in blocked:
                lag = (e.attributes or {}).get("lag_ms", 0.0)
                blocked_ms += float(lag) if isinstance(lag, (int, float)) else 0.0
            attrs["infersight.event_loop.blocked_ms"] = blocked_ms
        if self.ledger is not None:
            tokens = 0
            for key in (PROMPT_TOKENS, COMPLETION_TOKENS):
                value = attrs.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    tokens += value
            attrs.update(self.ledger.attribute(start, end, tokens))
        events.sort(key=lambda e: e.timestamp)
        return ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes=attrs, events=events, links=span.links, kind=span.kind, status=span.status,
            start_time=start, end_time=end, instrumentation_scope=span.instrumentation_scope)


class VllmSpanExporter(SpanExporter):
    """Exporter wrapper: enriches ``llm_request`` spans, passes everything else through."""

    def __init__(self, inner: SpanExporter, enricher: VllmSpanEnricher) -> None:
        self.inner = inner
        self.enricher = enricher

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out: list[ReadableSpan] = []
        for span in spans:
            out.extend(self.enricher.enrich(span))
        return self.inner.export(out)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


__all__ = ["LLM_REQUEST", "PHASES", "VllmSpanEnricher", "VllmSpanExporter", "gc_overlap",
           "phase_spans", "phase_windows"]
