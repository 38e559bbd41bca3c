"""Prometheus and OTLP exposition of the cached sweep (never NVML on the scrape path)."""

from __future__ import annotations

import io
import json

import pytest
from infersight.instrument.gpu import GpuCollector, GpuSampler, install, start_sampler
from infersight.instrument.gpu._catalog import METRICS
from infersight.instrument.gpu._otel import OtelExport
from infersight.instrument.metrics.catalog import all_series_names
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.instrument.gpu.fake_nvml import NVML_ERROR_DRIVER_NOT_LOADED, FakeGpu, FakeNvml


def _samples(registry: CollectorRegistry) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for fam in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_scrape_reads_the_cache_and_never_calls_nvml(fake: FakeNvml, gpu: FakeGpu) -> None:
    gpu.power_mw, gpu.util_gpu, gpu.reasons = 650_000, 97, fake.nvmlClocksEventReasonHwThermalSlowdown
    gpu.pending_xids.append(79)
    s = GpuSampler(nvml=fake)
    s.open()
    s.sweep_once()
    reg = CollectorRegistry()
    reg.register(GpuCollector(s))
    calls = fake.calls
    samples = _samples(reg)
    assert fake.calls == calls  # the scrape made no NVML call
    assert samples["infersight_gpu_up"][0].value == 1.0
    power = samples["infersight_gpu_power_watts"][0]
    assert power.value == 650.0 and power.labels == {"gpu": "0", "uuid": gpu.uuid, "name": gpu.name}
    assert samples["infersight_gpu_utilization_ratio"][0].value == pytest.approx(0.97)
    active = {x.labels["reason"]: x.value for x in samples["infersight_gpu_clock_event_active"]}
    assert active["hw_thermal"] == 1.0 and active["idle"] == 0.0
    assert samples["infersight_gpu_throttled"][0].value == 1.0
    assert samples["infersight_gpu_energy_joules_total"][0].value == pytest.approx(1000.0)
    assert samples["infersight_gpu_process_memory_used_bytes"][0].labels["pid"] == "4242"
    assert samples["infersight_gpu_xid_errors_total"][0].labels["xid"] == "79"
    assert set(samples) <= all_series_names()  # every exposed series is in the catalog
    s.stop()


def test_no_gpu_exposes_only_up_0() -> None:
    s = GpuSampler(nvml=FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED))
    s.start()
    reg = CollectorRegistry()
    reg.register(GpuCollector(s))
    samples = _samples(reg)
    assert list(samples) == ["infersight_gpu_up"] and samples["infersight_gpu_up"][0].value == 0.0


def test_otel_uses_hw_semconv_names_and_attributes(fake: FakeNvml, gpu: FakeGpu) -> None:
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    s = GpuSampler(nvml=fake)
    s.open()
    OtelExport(s, meter_provider=mp)
    s.sweep_once()
    data = reader.get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    expected = {spec.otel_name for spec in METRICS if spec.otel_name} - {
        "infersight.gpu.xid.errors", "infersight.gpu.attributed.energy", "infersight.gpu.idle.energy",
        "infersight.gpu.attributed.cost", "infersight.gpu.pcie.throughput", "infersight.gpu.read.errors",
        # from the ledger (none here), or only while a process runs kernels (none here)
        "infersight.gpu.consumer.energy", "infersight.gpu.consumer.time", "infersight.gpu.process.energy",
        "infersight.gpu.process.utilization"}
    assert expected <= set(metrics)
    point = metrics["hw.power"].data.data_points[0]
    assert point.value == pytest.approx(gpu.power_mw / 1000)
    assert point.attributes == {"hw.id": gpu.uuid, "hw.name": gpu.name, "hw.type": "gpu", "gpu.index": "0"}
    util = metrics["hw.gpu.utilization"].data.data_points[0]
    assert util.attributes["hw.gpu.task"] == "general"
    assert metrics["hw.energy"].unit == "J"
    # semconv instrument types: memory usage/limit are UpDownCounters (non-monotonic sums)
    from opentelemetry.sdk.metrics.export import Gauge, Sum

    for name in ("hw.gpu.memory.usage", "hw.gpu.memory.limit"):
        assert isinstance(metrics[name].data, Sum) and not metrics[name].data.is_monotonic, name
    assert metrics["hw.gpu.memory.usage"].data.data_points[0].value == gpu.mem_used
    assert isinstance(metrics["hw.gpu.utilization"].data, Gauge)
    assert isinstance(metrics["hw.energy"].data, Sum) and metrics["hw.energy"].data.is_monotonic
    s.stop()
    mp.shutdown()


def test_full_resolution_export_sends_every_sweep(fake: FakeNvml, gpu: FakeGpu) -> None:
    out = io.StringIO()
    exporter = ConsoleMetricExporter(out=out, formatter=lambda md: md.to_json(indent=None) + "\n")
    s = GpuSampler(nvml=fake)
    s.open()
    export = OtelExport(s, metric_exporter=exporter, export_interval_s=60.0)
    export.start()
    for watts in (100, 200, 300, 400, 500):
        gpu.power_mw = watts * 1000
        s.sweep_once()
    export.shutdown()  # flushes the batch
    values = []
    for line in out.getvalue().splitlines():
        for rm in json.loads(line)["resource_metrics"]:
            for sm in rm["scope_metrics"]:
                for m in sm["metrics"]:
                    if m["name"] == "hw.power":
                        values += [dp["value"] for dp in m["data"]["data_points"]]
    assert values == [100.0, 200.0, 300.0, 400.0, 500.0]


def test_full_resolution_buffer_is_bounded(fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake)
    s.open()
    export = OtelExport(s, metric_exporter=ConsoleMetricExporter(out=io.StringIO()),
                        export_interval_s=60.0, max_batches=3)
    export.start()
    for _ in range(10):
        s.sweep_once()
    assert export.dropped_batches == 7
    export.shutdown()


def test_install_unknown_option_and_bad_price_are_refused() -> None:
    from infersight.instrument.gpu import GpuConfigError

    with pytest.raises(GpuConfigError, match="unknown GPU plane option"):
        install(nvml=FakeNvml(), registry=CollectorRegistry(), colour="blue")
    with pytest.raises(GpuConfigError, match="price_per_gpu_hour"):
        install(nvml=FakeNvml(), registry=CollectorRegistry(), price_per_gpu_hour=-1)
    with pytest.raises(GpuConfigError, match="instance_type"):
        install(nvml=FakeNvml(), registry=CollectorRegistry(), instance_type="p9.mega")


def test_install_picks_the_price_from_the_gpu_model_and_shutdown_unregisters(fake: FakeNvml) -> None:
    reg = CollectorRegistry()
    plane = install(nvml=fake, registry=reg)
    assert plane.up and plane.price.source == "gpu_model" and plane.price.instance_type == "p5.48xlarge"
    samples = _samples(reg)
    price = samples["infersight_gpu_price_per_hour_usd"][0]
    assert price.value == pytest.approx(plane.price.usd_per_gpu_hour)
    plane.shutdown()
    plane.shutdown()  # idempotent
    assert _samples(reg) == {}
    assert not fake.initialized


def test_start_sampler_standalone_registers_and_stops(fake: FakeNvml) -> None:
    reg = CollectorRegistry()
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    s = start_sampler(nvml=fake, registry=reg, meter_provider=mp, interval_s=0.05)
    assert _samples(reg)["infersight_gpu_up"][0].value == 1.0
    s.stop()
    assert _samples(reg)["infersight_gpu_up"][0].value == 0.0
    mp.shutdown()
