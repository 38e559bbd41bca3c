"""The plugin's pure parts: roles, phase reconstruction, GC overlap, enrichment, token ledger.

No vLLM needed: spans are made with the real OTel SDK the way vLLM makes ``llm_request``
(after the fact, ``start_time`` = arrival, ``gen_ai.latency.*`` attributes).
"""

from __future__ import annotations

import gc
import os
import time
import warnings

import pytest
from infersight.instrument.runtime._gc import GcMonitor
from infersight.instrument.vllm._export import (
    LazySpanExporter,
    PidGuardSpanExporter,
    resolve_endpoint,
)
from infersight.instrument.vllm._gpu import TokenEnergyLedger, registry_token_reader
from infersight.instrument.vllm._role import child_role, detect_role
from infersight.instrument.vllm._spans import (
    VllmSpanEnricher,
    VllmSpanExporter,
    gc_overlap,
    phase_windows,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _llm_request(provider: TracerProvider, start_ns: int, end_ns: int, **latency: float) -> None:
    ctx = TraceContextTextMapPropagator().extract({"traceparent": TRACEPARENT})
    attrs = {"gen_ai.request.id": "chatcmpl-1", "gen_ai.usage.prompt_tokens": 5,
             "gen_ai.usage.completion_tokens": 16, "gen_ai.latency.e2e": (end_ns - start_ns) / 1e9}
    attrs.update({f"gen_ai.latency.{k}": v for k, v in latency.items()})
    span = provider.get_tracer("vllm").start_span("llm_request", context=ctx, kind=SpanKind.SERVER,
                                                  start_time=start_ns)
    span.set_attributes(attrs)
    span.end(end_time=end_ns)


def _pipeline(enricher: VllmSpanEnricher) -> tuple[TracerProvider, InMemorySpanExporter]:
    sink = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(VllmSpanExporter(sink, enricher)))
    return provider, sink


@pytest.mark.parametrize(("name", "argv", "parent", "role"), [
    ("MainProcess", ["/v/bin/vllm", "serve", "model"], False, "api_server"),
    ("MainProcess", ["python", "-m", "vllm.entrypoints.openai.api_server"], False, "api_server"),
    ("EngineCore", ["/v/bin/vllm", "serve"], True, "engine_core"),
    ("EngineCore_DP1", [], True, "engine_core"),
    ("VllmWorker-0", [], True, "worker"),
    ("ApiServer_1", [], True, "api_server"),
    ("MainProcess", ["/v/site-packages/vllm/model_executor/models/registry.py"], False, None),
    ("Process-3", ["/v/bin/vllm", "serve"], True, None),
    ("MainProcess", ["app.py"], False, "driver"),
])
def test_role_of_each_vllm_process(name: str, argv: list[str], parent: bool, role: str | None) -> None:
    assert detect_role(name, argv, parent) == role


def test_forked_children_take_the_next_role_down() -> None:
    assert child_role("api_server") == "engine_core"
    assert child_role("engine_core") == "worker"
    assert child_role("worker") is None


def test_phases_are_laid_back_from_the_end_and_fill_the_span() -> None:
    provider, sink = _pipeline(VllmSpanEnricher())
    start = time.time_ns()
    _llm_request(provider, start, start + 100_000_000, time_in_queue=0.02, time_in_model_prefill=0.03,
                 time_in_model_decode=0.04)
    spans = {s.name: s for s in sink.get_finished_spans()}
    assert set(spans) == {"llm_request", "vllm.preprocess", "vllm.queue", "vllm.prefill", "vllm.decode"}
    parent = spans["llm_request"]
    assert parent.context is not None and parent.parent is not None
    assert parent.parent.span_id == int("b7ad6b7169203331", 16)  # the client's traceparent
    expected = {"preprocess": (0, 10), "queue": (10, 30), "prefill": (30, 60), "decode": (60, 100)}
    for phase, (a_ms, b_ms) in expected.items():
        child = spans[f"vllm.{phase}"]
        assert child.parent is not None and child.parent.span_id == parent.context.span_id
        assert child.context is not None and child.context.trace_id == parent.context.trace_id
        assert (child.start_time, child.end_time) == (start + a_ms * 1_000_000, start + b_ms * 1_000_000)
        assert child.attributes is not None and child.attributes["infersight.reconstructed"] is True


def test_phases_longer_than_the_span_are_clamped_to_it() -> None:
    span = ReadableSpan("llm_request", start_time=1_000_000_000, end_time=1_050_000_000,
                        attributes={"gen_ai.latency.time_in_queue": 1.0,
                                    "gen_ai.latency.time_in_model_prefill": 0.03,
                                    "gen_ai.latency.time_in_model_decode": 0.01})
    windows = phase_windows(span)
    assert [w[0] for w in windows] == ["queue", "prefill", "decode"]
    assert windows[0][1] == 1_000_000_000 and windows[-1][2] == 1_050_000_000
    assert all(a < b for _, a, b in windows)


def test_span_without_latency_attributes_gets_no_children() -> None:
    provider, sink = _pipeline(VllmSpanEnricher())
    start = time.time_ns()
    _llm_request(provider, start, start + 1_000_000)  # no queue/prefill/decode
    assert [s.name for s in sink.get_finished_spans()] == ["llm_request"]


def test_gc_pauses_inside_the_request_are_attributed_to_it() -> None:
    monitor = GcMonitor(ring_size=64, event_threshold_ms=0.0)
    monitor.install(background=False)
    try:
        before = time.time_ns()
        time.sleep(0.01)
        start = time.time_ns()
        junk = [[{} for _ in range(50)] for _ in range(2000)]
        for _ in range(3):
            gc.collect()
        del junk
        end = time.time_ns()
        time.sleep(0.01)
        pause_ms, count, pauses = gc_overlap(monitor, start, end, chunk=4)
        inside = [p for p in monitor.pauses_since(0) if start <= p[0] and p[0] + p[1] <= end]
        assert count == len(inside) >= 3
        assert pause_ms == pytest.approx(sum(p[1] for p in inside) / 1e6)
        assert gc_overlap(monitor, before, before + 1_000_000)[1] == 0

        provider, sink = _pipeline(VllmSpanEnricher(gc_monitor=monitor))
        _llm_request(provider, start, end, time_in_queue=0.0, time_in_model_prefill=0.0,
                     time_in_model_decode=0.0)
        enriched = next(s for s in sink.get_finished_spans() if s.name == "llm_request")
        assert enriched.attributes is not None
        assert enriched.attributes["infersight.gc.pause_count"] == count
        assert [e.name for e in enriched.events].count("gc.pause") == count
    finally:
        monitor.uninstall()


class _BrokenLedger:
    def attribute(self, start_ns: int, end_ns: int, tokens: int) -> dict[str, float]:
        raise RuntimeError("boom")


def test_a_failing_addition_still_exports_the_original_span() -> None:
    enricher = VllmSpanEnricher(ledger=_BrokenLedger())
    provider, sink = _pipeline(enricher)
    start = time.time_ns()
    _llm_request(provider, start, start + 5_000_000, time_in_queue=0.001, time_in_model_prefill=0.001,
                 time_in_model_decode=0.001)
    spans = sink.get_finished_spans()
    assert [s.name for s in spans] == ["llm_request"]
    assert spans[0].attributes is not None and "gen_ai.request.id" in spans[0].attributes
    assert enricher.errors == 1


def test_token_ledger_splits_window_energy_by_token_share() -> None:
    ledger = TokenEnergyLedger(tokens=lambda: 0.0, gpus=2, price_per_gpu_hour=3.6, min_step_s=0.0)
    # 100 J and 100 tokens per second, from t=0 to t=10 s
    for t in range(11):
        ledger.record(t * 1_000_000_000, energy_j=100.0 * t, tokens=100.0 * t)
    attrs = ledger.attribute(2_000_000_000, 4_000_000_000, tokens=50)  # 50 of the 200 tokens
    assert attrs["infersight.gpu.share"] == pytest.approx(0.25)
    assert attrs["infersight.gpu.energy_j"] == pytest.approx(50.0)
    assert attrs["infersight.gpu.seconds"] == pytest.approx(2.0 * 2 * 0.25)
    assert attrs["infersight.gpu.cost_usd"] == pytest.approx(1.0 * 3.6 / 3600)
    half = ledger.attribute(2_500_000_000, 3_000_000_000, tokens=1000)  # interpolated, capped
    assert half["infersight.gpu.energy_j"] == pytest.approx(50.0)
    assert half["infersight.gpu.share"] == 1.0
    assert TokenEnergyLedger(tokens=lambda: 0.0).attribute(0, 10, 5) == {}


def test_token_reader_sums_vllm_counters_from_a_registry() -> None:
    registry = CollectorRegistry()
    prompt = Counter("vllm:prompt_tokens", "p", ["model_name"], registry=registry)
    generation = Counter("vllm:generation_tokens", "g", ["model_name"], registry=registry)
    Counter("vllm:other_tokens", "o", registry=registry).inc(1000)
    prompt.labels("m").inc(22)
    generation.labels("m").inc(58)
    generation.labels("n").inc(2)
    assert registry_token_reader(registry)() == 82.0


def test_endpoint_resolution_order() -> None:
    argv = ["vllm", "serve", "m", "--otlp-traces-endpoint", "http://127.0.0.1:9999/v1/traces"]
    assert resolve_endpoint(argv, {}) == "http://127.0.0.1:9999"
    assert resolve_endpoint(["vllm", "--otlp-traces-endpoint=http://h:1/v1/traces"], {}) == "http://h:1"
    assert resolve_endpoint(["vllm", "--otlp-traces-endpoint", "grpc-host:4317"], {}) == "http://127.0.0.1:4318"
    assert resolve_endpoint(argv, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://o:2/"}) == "http://o:2"
    assert resolve_endpoint(argv, {"INFERSIGHT_OTLP_ENDPOINT": "http://i:3",
                                   "OTEL_EXPORTER_OTLP_ENDPOINT": "http://o:2"}) == "http://i:3"
    with pytest.raises(ValueError, match="http"):
        resolve_endpoint([], {"INFERSIGHT_OTLP_ENDPOINT": "localhost:4318"})


def test_lazy_exporter_follows_vllms_traces_endpoint_once_set() -> None:
    made: dict[tuple[str, str], InMemorySpanExporter] = {}

    def factory(endpoint: str, protocol: str) -> InMemorySpanExporter:
        made[(endpoint, protocol)] = InMemorySpanExporter()
        return made[(endpoint, protocol)]

    env: dict[str, str] = {}
    lazy = LazySpanExporter("http://127.0.0.1:4318", environ=env, factory=factory)
    span = ReadableSpan("x", start_time=1, end_time=2)
    lazy.export([span])
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://c:4317"  # what vLLM's init_tracer does
    lazy.export([span, span])
    env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
    lazy.export([span])
    assert {k: len(v.get_finished_spans()) for k, v in made.items()} == {
        ("http://127.0.0.1:4318/v1/traces", "http/protobuf"): 1,
        ("http://c:4317", "grpc"): 2,
        ("http://c:4317", "http/protobuf"): 1,
    }


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pid_guard_sends_nothing_from_a_forked_child() -> None:
    inner = InMemorySpanExporter()
    guard = PidGuardSpanExporter(inner)
    span = ReadableSpan("x", start_time=1, end_time=2)
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about fork with threads; the child only exports
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child: export through the inherited exporter, report what reached it
        try:
            guard.export([span])
            os.write(write_fd, str(len(inner.get_finished_spans())).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    assert os.read(read_fd, 16) == b"0"
    os.close(read_fd)
    guard.export([span])
    assert len(inner.get_finished_spans()) == 1


def test_vllm_prometheus_families_are_bridged_to_otlp() -> None:
    from infersight.instrument.vllm._bridge import bridge_vllm_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import Gauge

    registry = CollectorRegistry()
    Gauge("vllm:kv_cache_usage_perc", "kv", ["engine", "model_name"], registry=registry).labels("0", "m").set(0.25)
    hits = Counter("vllm:prefix_cache_hits", "h", ["engine", "model_name"], registry=registry)
    hits.labels("0", "m").inc(12)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    bridge_vllm_metrics(provider, registry)
    data = reader.get_metrics_data()
    assert data is not None
    points = {m.name: [(p.value, dict(p.attributes or {})) for p in m.data.data_points]
              for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    labels = {"engine": "0", "model_name": "m"}
    assert points["vllm.kv_cache_usage_perc"] == [(0.25, labels)]
    assert points["vllm.prefix_cache_hits"] == [(12.0, labels)]
    assert "vllm.num_requests_waiting" not in points  # absent family: no point, no error
    provider.shutdown()
