"""Per-request hooks: how the GPU plane (and other planes) annotate request spans.

The request middleware calls every registered hook at request start and just before the
SERVER span ends, so a hook can add attributes/events to the still-open span. Hooks must be
O(1), must not block and must never raise into the request (the middleware guards them and
counts failures).
"""

from __future__ import annotations

from typing import Any, Protocol

from opentelemetry.trace import Span


class RequestHook(Protocol):
    """Called at the start and end of every instrumented request (registered in
    ``instrumentation_of(app).hooks``; the GPU plane is one): adds attributes to the still-open
    SERVER span. O(1), never blocking; exceptions are counted in ``infersight_hook_errors_total``
    and swallowed."""

    def on_request_start(self, span: Span, start_ns: int) -> Any:
        """Called when the request's span starts; the return value is handed back at the end."""

    def on_request_end(self, span: Span, state: Any, start_ns: int, end_ns: int) -> None:
        """Called before the span ends (``time.time_ns()`` clock); may set attributes/events."""


__all__ = ["RequestHook"]
