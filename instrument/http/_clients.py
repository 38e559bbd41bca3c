"""Outgoing requests: the trace is propagated and CLIENT spans are made, by infersight's lean httpx
patch on its own provider (:mod:`._httpx`) or by the httpx/requests OTel instrumentations (when
installed); URLs are redacted (query values, ``user:password@``)."""

from __future__ import annotations

import logging
from typing import Any

from infersight.instrument._state import Instrumentation
from infersight.instrument.http._redact import redact_url

logger = logging.getLogger(__name__)


def instrument_clients(state: Instrumentation, tp: Any) -> None:
    """Outgoing traceparent and CLIENT spans for httpx/requests clients: httpx through infersight's
    lean patch when ``tp`` is infersight's own provider (:mod:`._httpx`), else (and for requests)
    through their OTel instrumentations, when installed."""
    from infersight.instrument.export._configure import OwnedTracerProvider, owned_processor
    from infersight.instrument.http import _httpx

    if isinstance(tp, OwnedTracerProvider) and owned_processor(tp) is not None:
        from infersight.instrument.helpers._sinks import tracer_for

        undo = _httpx.install(tracer_for(tp), capture_query=state.capture_query)
        if undo is not None:
            state._restore.append(undo)
    for module, cls in (("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
                        ("opentelemetry.instrumentation.requests", "RequestsInstrumentor")):
        if cls == "HTTPXClientInstrumentor" and _httpx.installed():
            continue  # patched lean (by this app or an earlier one): never two spans per request
        try:
            instrumentor = getattr(__import__(module, fromlist=[cls]), cls)()
        except ImportError:
            logger.debug("infersight: %s not installed; outgoing propagation for it is off", module)
            continue
        except Exception as exc:
            logger.warning("infersight: loading %s failed (%s)", module, exc)
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            continue
        hooks: dict[str, Any] = {}
        if not state.capture_query:  # full URLs carry query values (API keys, prompts): redact them
            hooks["request_hook"] = _redact_client_url
            if cls == "HTTPXClientInstrumentor":
                hooks["async_request_hook"] = _redact_client_url_async
        try:
            instrumentor.instrument(tracer_provider=tp, **hooks)
            state._restore.append(instrumentor.uninstrument)
        except Exception as exc:
            logger.warning("infersight: instrumenting %s failed (%s)", cls, exc)


def _request_url(request: Any) -> str | None:
    """The URL of an httpx ``RequestInfo`` (or raw-transport tuple) or a ``requests`` request."""
    url = getattr(request, "url", None)
    if url is None and isinstance(request, tuple) and len(request) > 1:
        url = request[1]
    if isinstance(url, tuple) and len(url) == 4:  # httpx raw transport: (scheme, host, port, target)
        scheme, host, port, target = url
        url = f"{scheme.decode()}://{host.decode()}{f':{port}' if port else ''}{target.decode()}"
    return None if url is None else str(url)


def _redact_client_url(span: Any, request: Any) -> None:
    try:
        url = _request_url(request)
        if url is None or not span.is_recording():
            return
        redacted = redact_url(url)
        attrs = getattr(span, "attributes", None) or {}
        keys = [k for k in ("url.full", "http.url") if k in attrs] or ["url.full"]
        for key in keys:
            span.set_attribute(key, redacted)
    except Exception:  # never fail the outgoing request
        logger.debug("infersight: redacting a client URL failed", exc_info=True)


async def _redact_client_url_async(span: Any, request: Any) -> None:
    _redact_client_url(span, request)


__all__ = ["instrument_clients"]
