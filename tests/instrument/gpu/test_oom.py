"""Allocation failures: the app's record_gpu_oom() and torch's allocator counters."""

from __future__ import annotations

import logging

import pytest
from infersight.instrument import record_gpu_oom
from infersight.instrument.gpu import install
from infersight.instrument.gpu._memory import ALLOC
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import use_span
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.instrument.gpu.conftest import ManualClock
from tests.instrument.gpu.fake_nvml import FakeGpu, FakeNvml


def _counts(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(registry).decode()
    return {(s.labels["kind"], s.labels["source"]): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "infersight_gpu_allocation_failures_total"}


def test_ooms_in_a_request_are_counted_on_the_span_and_the_counter(clock: ManualClock) -> None:
    torch_counts = [None]  # torch not loaded at first
    reg = CollectorRegistry()
    plane = install(nvml=FakeNvml([FakeGpu(util_gpu=50)]), registry=reg, clock=clock,
                    torch_stats=lambda: torch_counts[0])
    plane.sampler.stop()
    plane.sampler.open()
    plane.sampler.sweep_once()
    before = _counts(reg)
    assert ("oom", "torch") not in before  # torch never read: no torch series
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    span = tp.get_tracer("t").start_span("POST /infer")
    st = plane.hook.on_request_start(span, clock())
    with use_span(span):
        record_gpu_oom(bytes_requested=2**30, device="cuda:0")  # caught torch.OutOfMemoryError
        record_gpu_oom("alloc_retry")
    ooms0, retries0 = ALLOC.totals()
    torch_counts[0] = (ooms0 + 2, retries0 + 5)  # torch's own counters moved more meanwhile
    for _ in range(10):  # a slow tick reads them
        clock.advance(0.1)
        plane.sampler.sweep_once()
    plane.hook.on_request_end(span, st, 0, clock())
    span.end()
    s = exporter.get_finished_spans()[0]
    assert s.attributes["infersight.gpu.ooms"] == 3  # the larger of app (1) and torch (+3 since start)
    assert s.attributes["infersight.gpu.alloc_retries"] == 6
    events = [e for e in s.events if e.name == "infersight.gpu.oom"]
    assert [e.attributes["infersight.gpu.alloc_failure.kind"] for e in events] == ["oom", "alloc_retry"]
    assert events[0].attributes["infersight.gpu.alloc_failure.bytes"] == 2**30
    after = _counts(reg)
    assert after[("oom", "app")] == before[("oom", "app")] + 1
    assert after[("alloc_retry", "app")] == before[("alloc_retry", "app")] + 1
    assert after[("oom", "torch")] == ooms0 + 2 and after[("alloc_retry", "torch")] == retries0 + 5
    plane.shutdown()


def test_a_bad_kind_is_counted_as_oom_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        record_gpu_oom("cuda-sad")
    assert ALLOC.app == {"oom": 1, "alloc_retry": 0}
    assert "kind must be one of" in caplog.text


def test_without_a_gpu_the_counter_shows_only_once_something_happened() -> None:
    from infersight.instrument.gpu import GpuCollector, GpuSampler

    from tests.instrument.gpu.fake_nvml import NVML_ERROR_DRIVER_NOT_LOADED

    s = GpuSampler(nvml=FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED))
    s.start()
    reg = CollectorRegistry()
    reg.register(GpuCollector(s))
    assert _counts(reg) == {}
    record_gpu_oom()
    assert _counts(reg) == {("oom", "app"): 1.0, ("alloc_retry", "app"): 0.0}
