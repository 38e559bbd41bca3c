"""``instrument_app`` / ``uninstrument_app``: one call wires traces, metrics, runtime signals, health."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import prometheus_client
from infersight.instrument._errors import ConfigurationError, InstrumentError
from infersight.instrument._options import (
    ExportOptions,
    GcOptions,
    GpuOptions,
    HealthOptions,
    LoopLagOptions,
    PrivacyOptions,
)
from infersight.instrument._options import resolve as resolve_options
from infersight.instrument._state import Instrumentation
from infersight.instrument.export._configure import configure, is_default_provider, owned_metric_exporter
from infersight.instrument.export._leanspan import lean_tracer_for
from infersight.instrument.export._otelhist import LocalHistogram
from infersight.instrument.http._clients import instrument_clients as trace_clients
from infersight.instrument.http._contrib import disable_native_fastapi_telemetry, instrument_contrib
from infersight.instrument.http._exposition import Exposition
from infersight.instrument.http._health import Readiness, ReadinessCheck
from infersight.instrument.http._middleware import InfersightMiddleware
from infersight.instrument.http._redact import set_capture_exception_messages
from infersight.instrument.metrics._families import SPECS, multiprocess_dir, otel_instruments, prom_metrics
from infersight.instrument.runtime._device import MODEL_DEVICES
from infersight.instrument.runtime._facts import runtime_facts
from infersight.instrument.runtime._gc import GcMonitor
from infersight.instrument.runtime._loop import LoopLagMonitor
from opentelemetry import metrics, trace
from prometheus_client import CollectorRegistry

from infersight._version import __version__

logger = logging.getLogger(__name__)

_ATTR = "_infersight_instrumentation"
_SCOPE = "infersight.instrument"



def instrument_app(
    app: Any,
    service_name: str | None = None,
    *,
    mode: Literal["lean", "contrib"] = "lean",
    endpoint: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    registry: CollectorRegistry | None = None,
    gc: GcOptions | bool = True,
    loop_lag: LoopLagOptions | bool = True,
    health: HealthOptions | None = None,
    gpu: GpuOptions | bool = False,
    privacy: PrivacyOptions | None = None,
    export: ExportOptions | None = None,
    process_role: str | None = None,
    instrument_clients: bool = True,
    contrib_options: Mapping[str, Any] | None = None,
    **deprecated: Any,
) -> Instrumentation:
    """Instrument a FastAPI/Starlette app in place; returns the handle ``uninstrument_app`` undoes.

    Providers: the injected ones, else the application's global ones, else :func:`configure`
    builds OTLP/HTTP ones (``service_name`` > ``OTEL_SERVICE_NAME``, ``endpoint`` >
    ``OTEL_EXPORTER_OTLP_ENDPOINT``; these apply only then). Instrumenting the same app twice logs
    a warning and returns the first handle. Each concern has its own typed options, checked when
    made: ``gc`` (:class:`GcOptions`: GC pauses as events on the requests they stalled and as
    spans), ``loop_lag`` (:class:`LoopLagOptions`: blocks become ``event_loop.blocked`` spans and
    requests that queued behind one get ``infersight.loop.queued_ms``), ``health``
    (:class:`HealthOptions`: ``/healthz``, ``/readyz``, ``/metrics``, readiness checks), ``gpu``
    (:class:`GpuOptions`: the NVML plane), ``privacy`` (:class:`PrivacyOptions`: query values,
    unmatched paths and exception messages are redacted unless opted in) and ``export``
    (:class:`ExportOptions`: metric interval, lean spans, ERROR logs over OTLP). ``gc``,
    ``loop_lag`` and ``gpu`` also take ``True``/``False``. ``instrument_clients`` traces outgoing
    httpx/requests calls (their URLs redacted like the requests'). ``contrib_options`` go to
    ``FastAPIInstrumentor.instrument_app`` in ``mode="contrib"``. The flat keywords of earlier
    releases (``gc_event_threshold_ms=``, ``gpu_options={...}``, ...) still work with a
    DeprecationWarning naming their replacement.
    """
    existing: Instrumentation | None = getattr(app, _ATTR, None)
    if existing is not None:
        logger.warning("infersight: app %r is already instrumented; ignoring the second call", app)
        return existing
    if mode not in ("lean", "contrib"):
        raise ConfigurationError(f"mode must be 'lean' or 'contrib', got {mode!r}")
    opts = resolve_options(gc=gc, loop_lag=loop_lag, health=health, gpu=gpu, privacy=privacy, export=export,
                           legacy=deprecated)
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
                          export_interval_s=opts.export.interval_s, log_level=opts.export.log_level)
        tp = tp or owned.tracer_provider
        mp = mp or owned.meter_provider
    elif service_name or endpoint:
        logger.info("infersight: providers were given; service_name/endpoint are theirs to set")

    reg = registry if registry is not None else prometheus_client.REGISTRY
    prom = prom_metrics(reg)
    otel = otel_instruments(mp)
    tracer = tp.get_tracer(_SCOPE, __version__)
    h, priv = opts.health, opts.privacy
    readiness = Readiness(h.checks, timeout_s=h.timeout_s)
    state = Instrumentation(
        mode=mode, tracer=tracer if mode == "lean" else None, prom=prom,
        otel=otel if mode == "lean" else None, exposition=Exposition(reg), readiness=readiness,
        live_path=h.live_path, ready_path=h.ready_path, metrics_path=h.metrics_path,
        trace_health=h.trace_health, _owned_telemetry=owned, capture_query=priv.capture_query,
        capture_paths=priv.capture_paths)
    if priv.capture_exception_messages is not None:
        set_capture_exception_messages(priv.capture_exception_messages)

    if mode == "lean" and opts.export.lean_spans:
        state._lean = lean_tracer_for(tp, _SCOPE, __version__)
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
    g, loop = opts.gc, opts.loop_lag
    if g.enabled:
        state.gc = GcMonitor(prom=prom, otel=otel, tracer=tracer, event_threshold_ms=g.event_threshold_ms,
                             long_pause_spans=g.pause_spans, on_error=state.hook_failed)
        state.gc.install()
    if loop.enabled:
        state.loop = LoopLagMonitor(prom=prom, otel=otel, tracer=tracer if loop.blocked_spans else None,
                                    interval_s=loop.interval_s, blocked_threshold_s=loop.blocked_threshold_s,
                                    capture_stack=loop.stack, on_error=state.hook_failed)
    disable_native_fastapi_telemetry(app, state)
    if mode == "contrib":
        instrument_contrib(app, state, tp, mp, contrib_options or {})
    if opts.gpu.enabled:
        try:
            _install_gpu(state, tp, mp, reg, opts.gpu)
        except ConfigurationError:
            _teardown(app, state)
            raise
    if owned is not None:
        state._flushers.append(owned.flush)
    elif opts.export.log_level is not None:
        _export_logs_for(state, tp, endpoint, opts.export.log_level)
    if instrument_clients:
        trace_clients(state, tp)
    try:
        app.add_middleware(InfersightMiddleware, state=state)
    except RuntimeError as exc:
        _teardown(app, state)
        raise InstrumentError(f"cannot instrument an app that has already started: {exc}") from exc
    setattr(app, _ATTR, state)
    return state


def _export_logs_for(state: Instrumentation, tp: Any, endpoint: str | None, level: int | str) -> None:
    """Log export next to providers the application built: same resource, OTLP/HTTP."""
    from infersight.instrument.export._configure import signal_endpoint
    from infersight.instrument.export._logs import export_logs
    from opentelemetry.sdk.resources import Resource

    resource = getattr(tp, "resource", None) or Resource.create({})
    logs = export_logs(level, resource=resource, endpoint=signal_endpoint(endpoint, "logs"), headers=None,
                       timeout_s=None)
    if logs is not None:
        state._flushers.append(logs.flush)
        state._closers.append(logs.close)


def _install_gpu(state: Instrumentation, tp: Any, mp: Any, reg: CollectorRegistry, options: GpuOptions) -> None:
    try:
        from infersight.instrument import gpu as gpu_plane

        plane = gpu_plane.install(tracer_provider=tp, meter_provider=mp, registry=reg, **options.install_kwargs())
        state.hooks.append(plane.hook)
        state._closers.append(plane.shutdown)
        state._flushers.append(plane.flush)
    except ConfigurationError:  # a bad option (a rate out of range) is the caller's to fix
        raise
    except Exception as exc:  # no GPU, no pynvml, a broken plane: never fail the server
        logger.warning("infersight: GPU telemetry unavailable, continuing without it (%s: %s)",
                       type(exc).__name__, exc)


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
