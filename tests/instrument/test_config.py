"""configure(): OTEL_* handling, resource with runtime facts, bounded export that counts drops."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Sequence
from pathlib import Path

import pytest
from infersight.instrument import ConfigurationError, configure, instrument_app
from infersight.instrument.export._configure import signal_endpoint
from infersight.instrument.export._processor import dropped_spans_total
from infersight.instrument.runtime._facts import driver_version, runtime_facts
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.instrument.conftest import Providers, TestClient, make_app

DRIVER_FILE = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
               "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")


def test_endpoints_follow_arguments_then_otel_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert signal_endpoint(None, "traces") == "http://127.0.0.1:4318/v1/traces"
    assert signal_endpoint("http://collector:4318/", "metrics") == "http://collector:4318/v1/metrics"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    assert signal_endpoint(None, "traces") is None  # the SDK exporter reads the variable itself
    with pytest.raises(ConfigurationError, match="http"):
        signal_endpoint("collector:4318", "traces")
    with pytest.raises(ConfigurationError):
        configure(export_interval_s=0, set_global=False)
    with pytest.raises(ConfigurationError, match="max_export_batch_size"):
        configure(max_queue_size=8, max_export_batch_size=16, set_global=False)


def test_resource_carries_service_runtime_facts_and_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=ml")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    tel = configure("glm-server", process_role="api", span_exporter=exporter,
                    metric_reader=InMemoryMetricReader(), set_global=False)
    try:
        attrs = tel.resource.attributes
        assert attrs["service.name"] == "glm-server"
        assert attrs["deployment.environment"] == "staging" and attrs["team"] == "ml"
        assert attrs["infersight.process.role"] == "api"
        assert attrs["process.runtime.version"].count(".") == 2
        with tel.tracer_provider.get_tracer("t").start_as_current_span("x") as span:
            assert not span.get_span_context().trace_flags.sampled  # OTEL_TRACES_SAMPLER applied
    finally:
        tel.shutdown()
        tel.shutdown()  # idempotent


def test_runtime_facts_see_torch_cuda_and_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_torch = types.ModuleType("torch")
    fake_torch.__version__ = "2.4.1+cu121"  # type: ignore[attr-defined]
    fake_torch.version = types.SimpleNamespace(cuda="12.1")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    driver = tmp_path / "version"
    driver.write_text(DRIVER_FILE)
    facts = runtime_facts("worker", driver_file=driver)
    assert (facts.torch_version, facts.cuda_version, facts.driver_version) == ("2.4.1+cu121", "12.1", "550.54.15")
    assert facts.process_role == "worker"
    assert facts.resource_attributes()["infersight.cuda.version"] == "12.1"
    assert driver_version(tmp_path / "missing") == ""
    monkeypatch.delitem(sys.modules, "torch")
    no_torch = runtime_facts(driver_file=tmp_path / "missing")
    assert "infersight.nvidia.driver.version" not in no_torch.resource_attributes()


def test_runtime_info_metric_is_exposed(providers: Providers) -> None:
    app = make_app()
    instrument_app(app, process_role="api", **providers.kwargs())
    with TestClient(app) as client:
        text = client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("infersight_runtime_info{"))
    assert 'process_role="api"' in line and 'python_version="3.' in line


class _StuckExporter(SpanExporter):
    """An exporter whose backend never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_export_queue_is_bounded_and_drops_are_counted() -> None:
    exporter = _StuckExporter()
    tel = configure(span_exporter=exporter, metric_reader=InMemoryMetricReader(), max_queue_size=16,
                    max_export_batch_size=4, schedule_delay_ms=10, set_global=False)
    before = dropped_spans_total()
    tracer = tel.tracer_provider.get_tracer("t")
    try:
        tracer.start_span("first").end()
        assert exporter.entered.wait(10), "the export thread should be stuck in export()"
        for i in range(200):  # would block forever if the request path waited on export
            tracer.start_span(f"s{i}").end()
        queued = len(tel.span_processor._queue)
        assert queued <= 16
        assert tel.span_processor.dropped >= 200 - 16 - 4
        assert dropped_spans_total() - before == tel.span_processor.dropped
    finally:
        exporter.release.set()
        tel.shutdown()
    assert dropped_spans_total() - before >= 180  # shut-down processors keep their count
