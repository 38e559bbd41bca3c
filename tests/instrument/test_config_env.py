"""configure() honours the OTel SDK's batch and metric variables: argument > environment > default."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest
from infersight.instrument import ConfigurationError, configure
from infersight.instrument.export._configure import batch_settings
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

VARS = ("OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_EXPORT_TIMEOUT", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in VARS:
        monkeypatch.delenv(var, raising=False)


def test_defaults_without_arguments_or_environment() -> None:
    s = batch_settings()
    assert (s.max_queue_size, s.max_export_batch_size, s.schedule_delay_ms) == (2048, 512, 1000.0)
    assert (s.span_export_timeout_s, s.export_interval_s, s.metric_export_timeout_s) == (10.0, 5.0, 10.0)
    assert s.exporter_timeout_s == 10.0


def test_environment_beats_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "3000")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_TIMEOUT", "4000")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")
    s = batch_settings()
    assert (s.max_queue_size, s.max_export_batch_size, s.schedule_delay_ms) == (64, 16, 250.0)
    assert (s.span_export_timeout_s, s.export_interval_s, s.metric_export_timeout_s) == (3.0, 0.2, 4.0)
    assert s.exporter_timeout_s is None  # the SDK exporter reads OTEL_EXPORTER_OTLP_TIMEOUT itself


def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")
    s = batch_settings(max_queue_size=4096, schedule_delay_ms=50, export_interval_s=2.0, export_timeout_s=1.5)
    assert (s.max_queue_size, s.schedule_delay_ms, s.export_interval_s) == (4096, 50, 2.0)
    assert s.span_export_timeout_s == s.metric_export_timeout_s == s.exporter_timeout_s == 1.5


def test_a_bad_variable_is_one_warning_and_the_default(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "-5")
    with caplog.at_level(logging.WARNING, logger="infersight"):
        s = batch_settings()
    assert s.max_queue_size == 2048 and s.export_interval_s == 5.0
    named = [r.getMessage() for r in caplog.records]
    assert any("OTEL_BSP_MAX_QUEUE_SIZE" in m for m in named) and any("OTEL_METRIC_EXPORT_INTERVAL" in m for m in named)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_queue_size"):
        batch_settings(max_queue_size=0)
    with pytest.raises(ConfigurationError, match="schedule_delay_ms"):
        batch_settings(schedule_delay_ms=-1)
    with pytest.raises(ConfigurationError, match="max_export_batch_size"):
        batch_settings(max_queue_size=8, max_export_batch_size=16)


class _Blocking(SpanExporter):
    """Holds the first export until released: spans pile up in the processor's queue."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_the_queue_size_from_the_environment_is_the_one_the_processor_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the SDK default (2048) nothing of 10 spans is dropped; with OTEL_BSP_MAX_QUEUE_SIZE=4
    # and a stuck exporter at most 4 queued + 2 in the stuck batch survive.
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    exporter = _Blocking()
    tel = configure("bsp-env", span_exporter=exporter, metric_reader=InMemoryMetricReader(), set_global=False)
    try:
        tracer = tel.tracer_provider.get_tracer("t")
        for _ in range(2):
            tracer.start_span("first").end()
        assert exporter.entered.wait(30)  # the worker is stuck in its first export
        for _ in range(8):
            tracer.start_span("more").end()
        assert tel.span_processor.dropped >= 4
        assert tel.settings is not None and tel.settings.max_queue_size == 4
    finally:
        exporter.release.set()
        tel.shutdown()
