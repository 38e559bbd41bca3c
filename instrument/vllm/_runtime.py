"""Start and stop infersight inside one vLLM process (see :mod:`.vllm_plugin`).

Every role gets OTLP metrics (resource attribute ``infersight.process.role``), the GC-pause
monitor and long-pause ``gc.pause`` spans. The API server also gets: the global
TracerProvider (installed before vLLM sets up tracing, so vLLM's ``llm_request`` spans flow
through it and are enriched on export), loop lag on uvicorn's loop (started from the first
span begun on that loop: vLLM's startup spans run there), the runtime families on vLLM's own
``/metrics``, and, where NVML sees a GPU, the GPU sampler plus per-request energy/cost. The
sampler runs in the API server only: every vLLM process sees the same GPUs, and three
samplers would count the same energy three times.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from infersight.instrument.export._configure import TelemetryProviders, configure, default_export_interval_s
from infersight.instrument.metrics._families import otel_instruments, prom_metrics
from infersight.instrument.runtime._gc import GcMonitor
from infersight.instrument.runtime._loop import LoopLagMonitor
from infersight.instrument.vllm._bridge import bridge_vllm_metrics
from infersight.instrument.vllm._export import (
    ENDPOINT_ENV,
    LazySpanExporter,
    PidGuardMetricExporter,
    PidGuardSpanExporter,
    resolve_endpoint,
)
from infersight.instrument.vllm._role import API_SERVER, DRIVER, child_role, role_from_process_name
from infersight.instrument.vllm._spans import VllmSpanEnricher, VllmSpanExporter
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

logger = logging.getLogger(__name__)

_SCOPE = "infersight.vllm"
_lock = threading.Lock()
_fork_hook_installed = False


@dataclass
class VllmTelemetry:
    role: str
    pid: int
    telemetry: TelemetryProviders
    gc_monitor: GcMonitor
    enricher: VllmSpanEnricher | None = None
    loop_monitor: LoopLagMonitor | None = None
    sampler: Any = None
    ledger: Any = None
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for step in (self._stop_loop, self.gc_monitor.uninstall, self._stop_sampler, self.telemetry.shutdown):
            try:
                step()
            except Exception:
                logger.debug("infersight vLLM plugin: stop step failed", exc_info=True)

    def _stop_loop(self) -> None:
        if self.loop_monitor is not None:
            self.loop_monitor.stop()

    def _stop_sampler(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()


class _LoopLagStarter(SpanProcessor):
    """Starts the loop-lag monitor on the first span that begins on a running event loop."""

    def __init__(self, monitor: LoopLagMonitor) -> None:
        self.monitor = monitor
        self.started = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.started:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.started = True
        loop.call_soon(self._start)

    def _start(self) -> None:
        try:
            self.monitor.start()
            logger.debug("infersight: loop-lag monitor started on the API server's event loop")
        except Exception:
            logger.warning("infersight: loop-lag monitor could not start", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_current: VllmTelemetry | None = None


def current() -> VllmTelemetry | None:
    return _current


def _visible_gpus() -> list[int] | None:
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None or raw.strip() == "":
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None


def _price(gpu_names: tuple[str, ...] = ()) -> float | None:
    """USD per GPU-hour: ``INFERSIGHT_GPU_PRICE_PER_HOUR``, else ``INFERSIGHT_GPU_INSTANCE_TYPE``
    or the GPU model in the GPU plane's price table, else None (no cost attribute)."""
    from infersight.instrument.gpu._cost import resolve_price

    raw = os.environ.get("INFERSIGHT_GPU_PRICE_PER_HOUR") or None
    try:
        return resolve_price(raw, os.environ.get("INFERSIGHT_GPU_INSTANCE_TYPE") or None,
                             gpu_names).usd_per_gpu_hour
    except Exception as exc:  # a bad price must not turn the plugin off
        logger.warning("infersight: no GPU cost per request: %s", exc)
        return None


def start(role: str, *, argv: list[str] | None = None, nvml: Any = None, gpu: bool = True,
          span_exporter: Any = None, metric_exporter: Any = None) -> VllmTelemetry:
    """Start everything for ``role`` in this process; idempotent per process.

    ``span_exporter`` / ``metric_exporter`` replace the OTLP ones (the API server's span
    exporter is still wrapped by the enricher); ``nvml`` is handed to the GPU sampler.
    """
    global _current
    with _lock:
        if _current is not None and _current.pid == os.getpid():
            return _current
        endpoint = resolve_endpoint(sys.argv if argv is None else argv)
        os.environ.setdefault(ENDPOINT_ENV, endpoint)  # children inherit the same decision
        frontend = role in (API_SERVER, DRIVER)
        enricher = VllmSpanEnricher() if frontend else None
        if span_exporter is None:
            if enricher is not None:
                span_exporter = LazySpanExporter(endpoint)
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                span_exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
        if enricher is not None:
            span_exporter = VllmSpanExporter(span_exporter, enricher)
        if metric_exporter is None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            metric_exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
        attrs: dict[str, Any] = {"process.pid": os.getpid()}
        vllm_version = _vllm_version()
        if vllm_version:
            attrs["vllm.version"] = vllm_version
        service = None if os.environ.get("OTEL_SERVICE_NAME") else "vllm"
        tel = configure(service, endpoint=endpoint, process_role=role, resource_attributes=attrs,
                        span_exporter=PidGuardSpanExporter(span_exporter),
                        metric_exporter=PidGuardMetricExporter(metric_exporter),
                        export_interval_s=default_export_interval_s(), set_global=frontend)
        state: VllmTelemetry | None = None
        try:
            otel = otel_instruments(tel.meter_provider)
            prom = None
            if frontend:
                try:  # the runtime families on vLLM's own /metrics
                    prom = prom_metrics()
                except Exception:
                    logger.info("infersight: runtime families not added to /metrics", exc_info=True)
            tracer = tel.tracer_provider.get_tracer(_SCOPE)
            monitor = GcMonitor(prom=prom, otel=otel, tracer=tracer)
            monitor.install()
            state = VllmTelemetry(role=role, pid=os.getpid(), telemetry=tel, gc_monitor=monitor,
                                  enricher=enricher)
            if enricher is not None:
                enricher.gc_monitor = monitor
                loop_monitor = LoopLagMonitor(prom=prom, otel=otel)
                tel.tracer_provider.add_span_processor(_LoopLagStarter(loop_monitor))
                state.loop_monitor = enricher.loop_monitor = loop_monitor
                bridge_vllm_metrics(tel.meter_provider)
                if gpu:
                    _start_gpu(state, tel, nvml)
        except Exception:
            if state is not None:
                state.stop()
            else:
                tel.shutdown()
            raise
        _current = state
        _install_fork_hook()
        atexit.register(state.stop)
        logger.info("infersight: vLLM %s process instrumented (pid %d, collector %s)", role,
                    os.getpid(), endpoint)
        return state


def _vllm_version() -> str:
    try:
        from importlib.metadata import version

        return version("vllm")
    except Exception:
        return ""


def _start_gpu(state: VllmTelemetry, tel: TelemetryProviders, nvml: Any) -> None:
    from infersight.instrument.gpu._sampler import start_sampler
    from infersight.instrument.vllm._gpu import TokenEnergyLedger, registry_token_reader

    sampler = start_sampler(nvml=nvml, devices=_visible_gpus(), meter_provider=tel.meter_provider)
    state.sampler = sampler
    if not sampler.available:
        return  # no GPU: the sampler logged one WARNING and exports infersight.gpu.up=0
    physical = [d for d in sampler.last.devices if d.parent is None]
    ledger = TokenEnergyLedger(tokens=registry_token_reader(), gpus=max(1, len(physical)),
                               price_per_gpu_hour=_price(tuple(d.name for d in physical)))
    sampler.add_listener(ledger.on_sweep)
    state.ledger = ledger
    if state.enricher is not None:
        state.enricher.ledger = ledger


def stop() -> None:
    global _current
    with _lock:
        state, _current = _current, None
    if state is not None:
        state.stop()


# -- fork: a child inherits the parent's state; drop it and start again under its own role ----
def _install_fork_hook() -> None:
    global _fork_hook_installed
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_installed = True


def _after_fork_in_child() -> None:
    global _current
    state = _current
    if state is None or state.pid == os.getpid():
        return
    _current = None
    try:  # O(1), no threads: the inherited exporters are pid-guarded and send nothing
        gc.callbacks.remove(state.gc_monitor._callback)
    except ValueError:
        pass
    parent_role = state.role
    threading.Thread(target=_restart_in_child, args=(parent_role,), name="infersight-vllm-fork",
                     daemon=True).start()


def _restart_in_child(parent_role: str, wait_s: float = 0.5) -> None:
    # multiprocessing names the child right after fork returns; give it a moment
    deadline = time.monotonic() + wait_s
    role = None
    while time.monotonic() < deadline:
        role = role_from_process_name(multiprocessing.current_process().name)
        if role is not None:
            break
        time.sleep(0.02)
    role = role or child_role(parent_role)
    if role is None:
        return
    try:
        start(role, gpu=False)
    except Exception as exc:
        logger.warning("infersight vLLM plugin off in forked %s process: %s", role, exc)


__all__ = ["VllmTelemetry", "current", "start", "stop"]
