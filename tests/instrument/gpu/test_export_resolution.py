"""The GPU series reach a real collector at 1 s while the app's other metrics keep their interval."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from infersight.collectors import Collector
from infersight.instrument import GpuOptions, configure, instrument_app, uninstrument_app
from infersight.instrument.gpu import GpuRequestHook
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import make_app
from tests.instrument.gpu.fake_nvml import FakeGpu, FakeNvml

pytestmark = pytest.mark.integration


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    col = Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, retention_interval_s=3600)
    col.start()
    try:
        yield col
    finally:
        col.stop()


def _times(col: Collector, table: str, metric: str) -> list[int]:
    assert col.con is not None
    cur = col.con.cursor()
    try:
        rows = cur.execute(f'SELECT DISTINCT epoch_ns("TimeUnix") FROM {table} WHERE "MetricName" = ? '
                           'ORDER BY 1', [metric]).fetchall()
    finally:
        cur.close()
    return [int(r[0]) for r in rows]


def test_gpu_series_arrive_every_second_while_the_app_interval_is_a_minute(collector: Collector) -> None:
    tel = configure("gpu-export", endpoint=collector.url, export_interval_s=60.0, set_global=False)
    app = make_app()
    state = instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False, gc=False, loop_lag=False,
                           gpu=GpuOptions(nvml=FakeNvml([FakeGpu(util_gpu=70, power_mw=300_000)]), interval_s=0.05))
    plane = next(h._plane for h in state.hooks if isinstance(h, GpuRequestHook))
    assert plane.export is not None
    assert (plane.export.mode, plane.export.export_interval_s) == ("periodic", 1.0)
    try:
        deadline = time.monotonic() + 60  # generous: a busy machine delays, never fails, this
        power: list[int] = []
        while time.monotonic() < deadline:
            power = _times(collector, "otel_metrics_gauge", "hw.power")
            if len(power) >= 3:
                break
            time.sleep(0.2)
        # the app's own 60 s reader has not exported yet: only the GPU reader sent these
        app_metrics = _times(collector, "otel_metrics_sum", "infersight.exporter.dropped_spans")
    finally:
        uninstrument_app(app)
        tel.shutdown()
    assert len(power) >= 3, power
    assert app_metrics == []
    gaps = [(b - a) / 1e9 for a, b in zip(power, power[1:], strict=False)]
    # one point a second from the GPU's own reader, not one per 50 ms sweep
    assert min(gaps) >= 0.5, gaps
    # after shutdown both readers flushed: the app's metrics came once, at the end
    assert len(_times(collector, "otel_metrics_sum", "infersight.exporter.dropped_spans")) == 1
