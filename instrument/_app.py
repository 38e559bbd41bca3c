"""``instrument_app`` / ``uninstrument_app``: one call wires traces, metrics, runtime signals, health."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import prometheus_client
from infersight.instrument._config import configure, is_default_provider, owned_metric_exporter
from infersight.instrument._device import MODEL_DEVICES
from infersight.instrument._errors import ConfigurationError, InstrumentError
from infersight.instrument._exposition import Exposition
from infersight.instrument._gc import GcMonitor
from infersight.instrument._health import Readiness, ReadinessCheck
from infersight.instrument._leanspan import lean_tracer_for
from infersight.instrument._logs import log_level as parse_log_level
from infersight.instrument._loop import LoopLagMonitor
from infersight.instrument._metrics import SPECS, multiprocess_dir, otel_instruments, prom_metrics
from infersight.instrument._middleware import InfersightMiddleware, redact_query
from infersight.instrument._otelhist import LocalHistogram
from infersight.instrument._redact import redact_url, set_capture_exception_messages
from infersight.instrument._runtime import runtime_facts
from infersight.instrument._sdk_compat import force_stable_http_semconv
from infersight.instrument._state import Instrumentation
from opentelemetry import metrics, trace
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

_ATTR = "_infersight_instrumentation"
_SCOPE = "infersight.instrument"


def _version() -> str:
    from infersight._version import __version__

    return __version__


def instrument_app(
    app: Any,
    service_name: str | None = None,
    *,
    mode: Literal["lean", "contrib"] = "lean",
    endpoint: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    registry: CollectorRegistry | None = None,
    gpu: bool = False,
    nvml: Any = None,
    gpu_options: Mapping[str, Any] | None = None,
    gc: bool = True,
    gc_event_threshold_ms: float = 5.0,
    gc_pause_spans: bool = True,
    loop_lag: bool = True,
    loop_lag_interval_s: float = 0.1,
    loop_blocked_threshold_s: float = 0.1,
    loop_lag_stack: bool = False,
    loop_blocked_spans: bool = True,
    readiness_checks: Mapping[str, ReadinessCheck] | Iterable[ReadinessCheck] | None = None,
    readiness_timeout_s: float = 2.0,
    health_paths: Sequence[str | None] = ("/healthz", "/readyz"),
    metrics_path: str | None = "/metrics",
    trace_health: bool = False,
    process_role: str | None = None,
    instrument_clients: bool = True,
    export_interval_s: float | None = None,
    lean_spans: bool = True,
    contrib_options: Mapping[str, Any] | None = None,
    capture_query: bool = False,
    capture_paths: bool = False,
    capture_exception_messages: bool | None = None,
    log_level: int | str | None = None,
) -> Instrumentation:
    """Instrument a FastAPI/Starlette app in place; returns the handle ``uninstrument_app`` undoes.

    Providers: the injected ones, else the application's global ones, else :func:`configure`
    builds OTLP/HTTP ones (``service_name``, ``endpoint`` and ``OTEL_*`` apply only then).
    Instrumenting the same app twice logs a warning and returns the first handle.
    ``contrib_options`` go to ``FastAPIInstrumentor.instrument_app`` in contrib mode (its hooks,
    header capture, ``exclude_spans``...). With ``lean_spans`` (default) and a provider built by :func:`configure` that nothing else
    listens to, SERVER spans take the lean path (``_leanspan``): same OTLP bytes, less CPU.
    ``url.query`` keeps parameter names only (values become ``REDACTED``: prompts and tokens
    travel in query strings) unless ``capture_query=True``; outgoing httpx/requests CLIENT spans
    get the same redaction of ``url.full`` (and lose ``user:password@``). A request that matched
    no route is stored with ``url.path = "/{unmatched}"`` unless ``capture_paths=True``.
    Exceptions keep their type and stack frames; their messages are recorded only with
    ``capture_exception_messages=True`` (process-wide, see ``_redact``; None leaves it as is).
    Event-loop blocks >= ``loop_blocked_threshold_s`` become ``event_loop.blocked`` spans
    (``loop_blocked_spans``; with the blocking stack when ``loop_lag_stack``), and requests that
    queued behind one, or carry a gateway's ``X-Request-Start``, get ``infersight.loop.queued_ms``.
    ``log_level`` (e.g. ``"ERROR"``): the application's log records at that level and above go
    over OTLP too, each with the trace it was logged in (see :func:`configure`).
    """
    existing: Instrumentation | None = getattr(app, _ATTR, None)
    if existing is not None:
        logger.warning("infersight: app %r is already instrumented; ignoring the second call", app)
        return existing
    if mode not in ("lean", "contrib"):
        raise ConfigurationError(f"mode must be 'lean' or 'contrib', got {mode!r}")
    if log_level is not None:
        parse_log_level(log_level)  # a bad level is refused before anything is installed
    if len(health_paths) != 2:
        raise ConfigurationError("health_paths must be (liveness_path, readiness_path); use None to disable one")
    for p in (*health_paths, metrics_path):
        if p is not None and not p.startswith("/"):
            raise ConfigurationError(f"paths must start with '/', got {p!r}")
    if getattr(app, "middleware_stack", None) is not None and not hasattr(app, "user_middleware"):
        raise InstrumentError("instrument_app needs a Starlette/FastAPI app (add_middleware)")

    owned = None
    tp, mp = tracer_provider, meter_provider
    if tp is None and not is_default_provider(trace.get_tracer_provider()):
        tp = trace.get_tracer_provider()
    if mp is None and not is_default_provider(metrics.get_meter_provider()):
        mp = metrics.get_meter_provider()
    if tp is None or mp is None:
        owned = configure(service_name, endpoint=endpoint, process_role=process_role,
                          export_interval_s=export_interval_s, log_level=log_level)
        tp = tp or owned.tracer_provider
        mp = mp or owned.meter_provider
    elif service_name or endpoint:
        logger.info("infersight: providers were given; service_name/endpoint are theirs to set")

    reg = registry if registry is not None else prometheus_client.REGISTRY
    prom = prom_metrics(reg)
    otel = otel_instruments(mp)
    tracer = tp.get_tracer(_SCOPE, _version())
    readiness = Readiness(readiness_checks, timeout_s=readiness_timeout_s)
    state = Instrumentation(
        mode=mode, tracer=tracer if mode == "lean" else None, prom=prom,
        otel=otel if mode == "lean" else None, exposition=Exposition(reg), readiness=readiness,
        live_path=health_paths[0], ready_path=health_paths[1], metrics_path=metrics_path,
        trace_health=trace_health, _owned_telemetry=owned, capture_query=capture_query,
        capture_paths=capture_paths)
    if capture_exception_messages is not None:
        set_capture_exception_messages(capture_exception_messages)

    if mode == "lean" and lean_spans:
        state._lean = lean_tracer_for(tp, _SCOPE, _version())
        augmenting = owned_metric_exporter(mp)
        if augmenting is not None:
            spec = SPECS["http_server_request_duration_seconds"]
            local = LocalHistogram(spec.otel_name or "", spec.unit, spec.help, spec.buckets or ())
            augmenting.sources.append(local)
            state._local_http = local
            state._restore.append(lambda: augmenting.sources.remove(local))
    previous_tp = MODEL_DEVICES.bind(tp)  # model device change spans go where this app's spans go
    state._restore.append(lambda: MODEL_DEVICES.bind(previous_tp))
    facts = runtime_facts(process_role)
    info = prom["infersight_runtime"]
    if multiprocess_dir() is None:
        info.info(facts.labels())
    else:
        info.labels(**facts.labels()).set(1)
    if gc:
        state.gc = GcMonitor(prom=prom, otel=otel, tracer=tracer, event_threshold_ms=gc_event_threshold_ms,
                             long_pause_spans=gc_pause_spans, on_error=state.hook_failed)
        state.gc.install()
    if loop_lag:
        state.loop = LoopLagMonitor(prom=prom, otel=otel, tracer=tracer if loop_blocked_spans else None,
                                    interval_s=loop_lag_interval_s,
                                    blocked_threshold_s=loop_blocked_threshold_s,
                                    capture_stack=loop_lag_stack, on_error=state.hook_failed)
    _disable_native_fastapi_telemetry(app, state)
    if mode == "contrib":
        _instrument_contrib(app, state, tp, mp, contrib_options or {})
    if gpu:
        try:
            _install_gpu(state, tp, mp, reg, nvml, gpu_options)
        except ConfigurationError:
            _teardown(app, state)
            raise
    if owned is not None:
        state._flushers.append(owned.flush)
    elif log_level is not None:
        _export_logs_for(state, tp, endpoint, log_level)
    if instrument_clients:
        _instrument_clients(state, tp)
    try:
        app.add_middleware(InfersightMiddleware, state=state)
    except RuntimeError as exc:
        _teardown(app, state)
        raise InstrumentError(f"cannot instrument an app that has already started: {exc}") from exc
    setattr(app, _ATTR, state)
    return state


def _export_logs_for(state: Instrumentation, tp: Any, endpoint: str | None, level: int | str) -> None:
    """Log export next to providers the application built: same resource, OTLP/HTTP."""
    from infersight.instrument._config import signal_endpoint
    from infersight.instrument._logs import export_logs
    from opentelemetry.sdk.resources import Resource

    resource = getattr(tp, "resource", None) or Resource.create({})
    logs = export_logs(level, resource=resource, endpoint=signal_endpoint(endpoint, "logs"), headers=None,
                       timeout_s=None)
    if logs is not None:
        state._flushers.append(logs.flush)
        state._closers.append(logs.close)


def _disable_native_fastapi_telemetry(app: Any, state: Instrumentation) -> None:
    """FastAPI >= 0.16x traces natively when a global provider exists: one SERVER span only."""
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict) and "tracing" in config:
        saved = {k: config.get(k) for k in ("tracing", "metrics")}
        config["tracing"] = False
        config["metrics"] = False
        state._restore.append(lambda: config.update(saved))


def _instrument_contrib(app: Any, state: Instrumentation, tp: Any, mp: Any, options: Mapping[str, Any]) -> None:
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


def _install_gpu(state: Instrumentation, tp: Any, mp: Any, reg: CollectorRegistry, nvml: Any,
                 options: Mapping[str, Any] | None) -> None:
    try:
        from infersight.instrument import gpu as gpu_plane

        plane = gpu_plane.install(tracer_provider=tp, meter_provider=mp, registry=reg,
                                  nvml=nvml, **dict(options or {}))
        state.hooks.append(plane.hook)
        state._closers.append(plane.shutdown)
        state._flushers.append(plane.flush)
    except ConfigurationError:  # a bad option (a typo, a rate out of range) is the caller's to fix
        raise
    except Exception as exc:  # no GPU, no pynvml, a broken plane: never fail the server
        logger.warning("infersight: GPU telemetry unavailable, continuing without it (%s: %s)",
                       type(exc).__name__, exc)


def _instrument_clients(state: Instrumentation, tp: Any) -> None:
    """Outgoing traceparent for httpx/requests clients, when their OTel instrumentations are installed."""
    for module, cls in (("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
                        ("opentelemetry.instrumentation.requests", "RequestsInstrumentor")):
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


def _teardown(app: Any, state: Instrumentation) -> None:
    state.enabled = False
    if state.loop is not None:
        state.loop.stop()
    if state.gc is not None:
        state.gc.uninstall()
    for close in (*state._closers, *reversed(state._restore)):
        try:
            close()
        except Exception:
            logger.warning("infersight: teardown step %r failed", close, exc_info=True)
    state._closers.clear()
    state._restore.clear()
    if state._owned_telemetry is not None:
        state._owned_telemetry.shutdown()


def uninstrument_app(app: Any) -> bool:
    """Undo :func:`instrument_app`; returns False (and does nothing) if the app was not instrumented."""
    state: Instrumentation | None = getattr(app, _ATTR, None)
    if state is None:
        return False
    delattr(app, _ATTR)
    user_middleware = getattr(app, "user_middleware", None)
    if user_middleware is not None:
        user_middleware[:] = [m for m in user_middleware
                              if not (m.cls is InfersightMiddleware and m.kwargs.get("state") is state)]
    _teardown(app, state)
    if hasattr(app, "middleware_stack"):
        app.middleware_stack = None  # rebuilt on the next request, without us
    return True


def add_readiness_check(app: Any, name: str, check: ReadinessCheck) -> None:
    """Add a named check to an instrumented app's ``/readyz``."""
    state: Instrumentation | None = getattr(app, _ATTR, None)
    if state is None:
        raise InstrumentError("add_readiness_check: call instrument_app(app) first")
    state.readiness.add(name, check)


def instrumentation_of(app: Any) -> Instrumentation | None:
    """The :class:`Instrumentation` ``instrument_app`` attached to ``app`` (None if not instrumented)."""
    return getattr(app, _ATTR, None)


__all__ = ["instrument_app", "uninstrument_app", "add_readiness_check", "instrumentation_of"]
