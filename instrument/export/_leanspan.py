"""A lean SERVER span for providers that infersight built itself (``configure()``).

The SDK span costs ~15 µs to create and end plus ~14 µs to encode for export. When
``instrument_app`` owns the TracerProvider (built by ``configure()`` with its OTLP exporter,
and nothing else listens to it), the request middleware uses :class:`LeanSpan` instead: a
real ``opentelemetry.trace.Span`` (children, propagation, hooks and ``set_attribute`` work as
usual) that keeps its fields in plain slots and encodes itself to OTLP protobuf once, at
``end()``; the bytes (which the GC never has to scan) go into the same bounded batch queue as
every other span. It honours the provider's sampler, resource, id generator
and the SDK's default span limits (128 attributes / events).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from infersight.instrument._sdk_compat import (
    batch_view,
    is_parent_based_always_on,
    lean_export_supported,
    span_processors_raw,
)
from infersight.instrument.export import _otlp
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

logger = logging.getLogger(__name__)

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_MAX_ATTRS = 128
_MAX_EVENTS = 128


class _Event:
    __slots__ = ("name", "attributes", "timestamp", "dropped_attributes")

    def __init__(self, name: str, attributes: Mapping[str, Any] | None, timestamp: int) -> None:
        self.name = name
        self.attributes = dict(attributes) if attributes else {}
        self.timestamp = timestamp
        self.dropped_attributes = 0


class LeanTracer:
    """Makes :class:`LeanSpan` SERVER spans for one owned provider and processor."""

    def __init__(self, provider: TracerProvider, processor: Any, scope_name: str, scope_version: str | None,
                 schema_url: str | None = None, attributes: types.Attributes = None) -> None:
        self.provider = provider
        self.processor = processor
        self.sampler = provider.sampler
        self._default_sampler = is_parent_based_always_on(provider.sampler)
        self.id_generator = provider.id_generator
        self.resource = provider.resource
        self.instrumentation_scope = InstrumentationScope(scope_name, scope_version, schema_url, attributes)
        # the exporter's own scope is queued as plain bytes; any other scope (an OTel contrib
        # instrumentation's tracer from the same provider) as (scope, bytes)
        self.primary = True

    def start_span(self, name: str, parent: Any, kind: SpanKind, attributes: dict[str, Any]) -> Any:
        parent_ctx = trace.get_current_span(parent).get_span_context() if parent is not None else None
        if parent_ctx is not None and parent_ctx.is_valid:
            trace_id = parent_ctx.trace_id
        else:
            parent_ctx = None
            trace_id = self.id_generator.generate_trace_id()
        span_id = self.id_generator.generate_span_id()
        if self._default_sampler:  # ParentBased(ALWAYS_ON), the SDK default: follow the parent
            sampled = parent_ctx is None or parent_ctx.trace_flags.sampled
            trace_state = parent_ctx.trace_state if parent_ctx is not None else None
            extra = None
        else:
            result = self.sampler.should_sample(parent, trace_id, name, kind, None, None)
            sampled = result.decision in (sampling.Decision.RECORD_AND_SAMPLE,)
            trace_state = result.trace_state if result.trace_state is not None else (
                parent_ctx.trace_state if parent_ctx is not None else None)
            extra = result.attributes
        if not sampled:
            return NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False,
                                                trace_flags=TraceFlags(TraceFlags.DEFAULT),
                                                trace_state=trace_state))
        ctx = SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED, trace_state=trace_state)
        if extra:
            attributes = {**extra, **attributes}
        return LeanSpan(self, name, kind, ctx, parent_ctx, attributes, time.time_ns())


class LeanSpan(trace.Span):
    __slots__ = ("_tracer", "name", "kind", "_ctx", "parent", "attributes", "events", "start_time",
                 "end_time", "status", "dropped_attributes", "dropped_events")

    def __init__(self, tracer: LeanTracer, name: str, kind: SpanKind, ctx: SpanContext,
                 parent: SpanContext | None, attributes: dict[str, Any], start_time: int) -> None:
        self._tracer = tracer
        self.name = name
        self.kind = kind
        self._ctx = ctx
        self.parent = parent
        self.attributes = attributes
        self.events: list[_Event] = []
        self.start_time = start_time
        self.end_time: int | None = None
        self.status = Status(StatusCode.UNSET)
        self.dropped_attributes = 0
        self.dropped_events = 0

    # -- what the SDK processor / our encoder read --------------------------------------
    @property
    def context(self) -> SpanContext:
        return self._ctx

    @property
    def resource(self) -> Any:
        return self._tracer.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._tracer.instrumentation_scope

    links: Sequence[Any] = ()
    dropped_links = 0

    def get_span_context(self) -> SpanContext:
        return self._ctx

    # -- the API -------------------------------------------------------------------------
    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self.end_time is not None or value is None:
            return
        attrs = self.attributes
        if key not in attrs and len(attrs) >= _MAX_ATTRS:
            self.dropped_attributes += 1
            return
        if isinstance(value, list):
            value = tuple(value)
        attrs[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self.end_time is not None:
            return
        if len(self.events) >= _MAX_EVENTS:
            self.dropped_events += 1
            return
        self.events.append(_Event(name, attributes, timestamp if timestamp is not None else time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        logger.debug("LeanSpan ignores links added after start")

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is not None:
            return
        if isinstance(status, Status):
            if self.status.status_code == StatusCode.OK:
                return
            self.status = status
        else:
            self.status = Status(status, description)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        attrs: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            attrs.update(attributes)
        self.add_event("exception", attrs, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = end_time if end_time is not None else time.time_ns()
        tracer = self._tracer
        try:
            data = _otlp.encode_span(self)  # type: ignore[arg-type]
        except Exception:
            logger.warning("LeanSpan: encoding %r failed; span dropped", self.name, exc_info=True)
            return
        tracer.processor.emit_encoded(data if tracer.primary else (tracer.instrumentation_scope, data))

    def __repr__(self) -> str:
        return f"LeanSpan(name={self.name!r}, context={self._ctx!r})"


class LeanApiTracer(trace.Tracer):
    """The OTel ``Tracer`` API over a :class:`LeanTracer`: what infersight's own helpers (caches,
    pools, jobs) and, through :class:`OwnedTracerProvider`, every OTel instrumentation (DB-API,
    httpx, ...) start their spans with when the provider is infersight's own, so every span the
    process makes takes the lean path, not only the request's.

    ``fallback`` makes the SDK tracer for the same scope: spans started with links (LeanSpan
    keeps none) and every span after someone added a processor of their own to the provider
    (they expect SDK spans) go there."""

    def __init__(self, lean: LeanTracer, fallback: Callable[[], trace.Tracer]) -> None:
        self._lean = lean
        self._fallback_factory = fallback
        self._fallback: trace.Tracer | None = None
        self._checked_listeners: Any = None

    def _sdk(self) -> trace.Tracer:
        if self._fallback is None:
            self._fallback = self._fallback_factory()
        return self._fallback

    def _lean_ok(self, links: Sequence[Link] | None) -> bool:
        if links:
            return False
        # the SDK replaces its tuple of processors when one is added: same tuple, same answer
        listeners = span_processors_raw(self._lean.provider)
        if listeners is not None and listeners is self._checked_listeners:
            return True
        from infersight.instrument.export._configure import owned_processor

        ok = owned_processor(self._lean.provider) is self._lean.processor
        self._checked_listeners = listeners if ok else None
        return ok

    def start_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: types.Attributes = None, links: Sequence[Link] | None = None,
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace.Span:
        if not self._lean_ok(links):
            return self._sdk().start_span(name, context, kind, attributes, links, start_time,
                                          record_exception, set_status_on_exception)
        parent = context if context is not None else otel_context.get_current()
        span: trace.Span = self._lean.start_span(name, parent, kind, dict(attributes) if attributes else {})
        if start_time is not None and isinstance(span, LeanSpan):
            span.start_time = start_time
        return span

    @contextmanager  # the SDK types it with a private context-manager class: hence the ignore below
    def start_as_current_span(  # type: ignore[override]
            self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                              attributes: types.Attributes = None, links: Sequence[Link] | None = None,
                              start_time: int | None = None, record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current


def lean_tracer_for(provider: Any, scope_name: str, scope_version: str | None, schema_url: str | None = None,
                    attributes: types.Attributes = None) -> LeanTracer | None:
    """A LeanTracer when ``provider`` was built by :func:`configure` and only its processor listens."""
    from infersight.instrument.export._configure import owned_processor

    processor = owned_processor(provider)
    exporter = getattr(processor, "exporter", None)
    if processor is None or not isinstance(exporter, _otlp.LeanOTLPSpanExporter):
        return None
    if batch_view(processor).emit is None or not lean_export_supported(exporter):
        return None  # an SDK without the seams the lean path needs: SDK spans, same data
    tracer = LeanTracer(provider, processor, scope_name, scope_version, schema_url, attributes)
    if exporter.lean is None:
        exporter.lean = (tracer.resource, tracer.instrumentation_scope)
    elif exporter.lean[1] != tracer.instrumentation_scope:
        tracer.primary = False  # its spans are grouped by scope when a batch is encoded
    return tracer


__all__ = ["LeanApiTracer", "LeanTracer", "LeanSpan", "lean_tracer_for", "Link"]
