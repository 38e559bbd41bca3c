"""Contrib mode (``mode="contrib"``): the OTel FastAPI instrumentation makes the SERVER span, with
infersight's redaction; and FastAPI's own (newer) telemetry turned off so there is one span."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from infersight.instrument._sdk_compat import force_stable_http_semconv
from infersight.instrument._state import Instrumentation
from infersight.instrument.http._middleware import redact_query
from infersight.instrument.http._redact import redact_url

logger = logging.getLogger(__name__)


def disable_native_fastapi_telemetry(app: Any, state: Instrumentation) -> None:
    """FastAPI >= 0.16x traces natively when a global provider exists: one SERVER span only."""
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict) and "tracing" in config:
        saved = {k: config.get(k) for k in ("tracing", "metrics")}
        config["tracing"] = False
        config["metrics"] = False
        state._restore.append(lambda: config.update(saved))


def instrument_contrib(app: Any, state: Instrumentation, tp: Any, mp: Any, options: Mapping[str, Any]) -> None:
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = [p for p in (state.live_path, state.ready_path, state.metrics_path)
                if p is not None and not (state.trace_health and p != state.metrics_path)]
    # Initialised earlier (another instrumentor ran before OTEL_SEMCONV_STABILITY_OPT_IN was
    # set)? contrib mode promises the same stable attribute names as lean mode.
    if not force_stable_http_semconv():
        logger.warning("infersight contrib mode: could not switch contrib to the stable HTTP "
                       "semconv; spans may carry the old attribute names")
    kwargs: dict[str, Any] = {"exclude_spans": ["receive", "send"],
                              "excluded_urls": ",".join(f"{p}$" for p in excluded) or None}
    kwargs.update(options)
    if not state.capture_query:
        kwargs["server_request_hook"] = _redacting_hook(kwargs.get("server_request_hook"))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, meter_provider=mp, **kwargs)
    state._restore.append(lambda: FastAPIInstrumentor.uninstrument_app(app))


def _redacting_hook(user_hook: Any) -> Any:
    """Contrib records the raw query string; overwrite it with the redacted form (lean's)."""

    def hook(span: Any, scope: dict[str, Any]) -> None:
        query = scope.get("query_string")
        if query and span.is_recording():
            span.set_attribute("url.query", redact_query(query.decode("latin-1")))
            attrs = getattr(span, "attributes", None) or {}
            for key in ("http.url", "url.full", "http.target"):  # old/dup semconv repeat the query
                if key in attrs:
                    span.set_attribute(key, redact_url(str(attrs[key])))
        if user_hook is not None:
            user_hook(span, scope)

    return hook


__all__ = ["disable_native_fastapi_telemetry", "instrument_contrib"]
