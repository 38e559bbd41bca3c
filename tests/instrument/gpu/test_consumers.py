"""A GPU shared with other processes: self + other + idle conserve the energy counter, requests
get only this process's share, and requests that did no GPU work are billed nothing."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from infersight.instrument import declare_model_device
from infersight.instrument.gpu import GpuPlane, install
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.instrument.gpu.conftest import ManualClock
from tests.instrument.gpu.fake_nvml import FakeGpu, FakeNvml

ME = os.getpid()


@pytest.fixture
def neighbour() -> Iterator[int]:
    """A real process to stand for the co-located GPU user (so /proc can name it)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(10)


class Rig:
    """The plane on a fake GPU, swept by hand; the fake's energy counter integrates the power
    exactly as the physical counter would (power ramps linearly between sweeps)."""

    def __init__(self, gpu: FakeGpu, clock: ManualClock, **opts: object) -> None:
        self.gpu, self.clock = gpu, clock
        self.t0 = clock()
        self.registry = CollectorRegistry()
        self.plane: GpuPlane = install(nvml=FakeNvml([gpu]), registry=self.registry, clock=clock,
                                       price_per_gpu_hour=3.6, **opts)
        self.plane.sampler.stop()  # no thread: sweeps driven here, deterministically
        self.plane.sampler.open()
        self.energy0 = gpu.energy_mj
        self.tp = TracerProvider()
        self.spans = InMemorySpanExporter()
        self.tp.add_span_processor(SimpleSpanProcessor(self.spans))
        self.sweep()

    def sweep(self) -> None:
        self.plane.sampler.sweep_once()

    def step(self, seconds: float, power_w: float | None = None) -> None:
        """Advance the clock; the power ramps to ``power_w`` by the next sweep."""
        old = self.gpu.power_mw
        new = old if power_w is None else int(power_w * 1000)
        self.clock.advance(seconds)
        self.gpu.energy_mj += round(0.5 * (old + new) * seconds)
        self.gpu.power_mw = new
        self.sweep()

    @property
    def counter_j(self) -> float:
        return (self.gpu.energy_mj - self.energy0) / 1000.0

    def request(self, seconds: float, steps: int = 10) -> dict[str, object]:
        span = self.tp.get_tracer("t").start_span("POST /infer")
        st = self.plane.hook.on_request_start(span, self.clock())
        for _ in range(steps):
            self.step(seconds / steps)
        self.plane.hook.on_request_end(span, st, 0, self.clock())
        span.end()
        return dict(self.spans.get_finished_spans()[-1].attributes or {})

    def prom(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(self.registry).decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}


def _two_processes(other: int) -> FakeGpu:
    return FakeGpu(util_gpu=90, power_mw=500_000, procs=[(ME, 2**30), (other, 4 * 2**30)],
                   proc_util=[(ME, 20), (other, 70)])


def test_self_other_idle_conserve_the_counter_with_two_processes(clock: ManualClock, neighbour: int) -> None:
    rng = random.Random(11)
    rig = Rig(_two_processes(neighbour), clock)
    ledger = rig.plane.ledger
    open_, done = [], 0.0
    for _ in range(300):
        roll = rng.random()
        if roll < 0.3:
            open_.append(ledger.begin(clock()))
        elif roll < 0.6 and open_:
            done += ledger.end(open_.pop(rng.randrange(len(open_))), clock()).energy_j
        rig.step(rng.uniform(0.01, 0.15), rng.uniform(150, 700))
    for st in open_:
        done += ledger.end(st, clock()).energy_j
    rig.step(0.1)
    c = ledger.consumers()
    energy = dict(c.energy_j)
    total = energy["self"] + energy["other"] + energy["idle"]
    assert total == pytest.approx(rig.counter_j, rel=1e-6)
    # the neighbour ran kernels 70 % of the time: its share, whatever this process did
    assert energy["other"] == pytest.approx(0.7 * rig.counter_j, rel=1e-6)
    # requests + (self outside requests + idle) + other: every joule once
    assert done + c.idle_energy_j + energy["other"] == pytest.approx(rig.counter_j, rel=1e-6)
    seconds = dict(c.seconds)
    assert sum(seconds.values()) == pytest.approx((clock() - rig.t0) / 1e9, rel=1e-9)  # one GPU
    assert seconds["other"] == pytest.approx(0.7 * sum(seconds.values()), rel=1e-9)
    # exported, with the neighbour named by pid and executable name
    m = rig.prom()
    assert m[("infersight_gpu_consumer_energy_joules_total", (("consumer", "other"),))] == \
        pytest.approx(energy["other"])
    name = Path(f"/proc/{neighbour}/comm").read_text().strip()
    key = (("consumer", "other"), ("pid", str(neighbour)), ("process_name", name))
    assert m[("infersight_gpu_process_energy_joules_total", key)] == pytest.approx(energy["other"], rel=1e-6)
    assert name.startswith("python")
    rig.plane.shutdown()


def test_a_request_gets_only_this_process_share(clock: ManualClock, neighbour: int) -> None:
    gpu = _two_processes(neighbour)
    gpu.proc_util = [(ME, 15), (neighbour, 80)]
    rig = Rig(gpu, clock)
    for _ in range(10):  # one slow tick: the per-process split is known
        rig.step(0.1)
    a = rig.request(1.0)
    # 500 W for 1 s; the neighbour holds 80 % of the GPU's time, the request the other 20 %
    assert a["infersight.gpu.energy_j"] == pytest.approx(100.0)
    assert a["infersight.gpu.seconds"] == pytest.approx(0.2)
    assert a["infersight.gpu.cost_usd"] == pytest.approx(0.2 * 3.6 / 3600)
    assert a["infersight.gpu.other_util_mean"] == pytest.approx(0.8)
    assert a["infersight.gpu.self_util_mean"] == pytest.approx(0.15)
    assert a["infersight.gpu.util_mean"] == pytest.approx(0.9)
    assert a["infersight.gpu.share_source"] == "process_utilization"
    assert a["infersight.gpu.work"] is True
    assert a["infersight.gpu.memory_used_max_bytes"] == gpu.mem_used
    rig.plane.shutdown()


def test_requests_of_a_model_on_the_cpu_are_billed_nothing(clock: ManualClock) -> None:
    rig = Rig(FakeGpu(util_gpu=60, power_mw=300_000, procs=[(ME, 2**30)]), clock)
    on_gpu = rig.request(1.0)
    assert on_gpu["infersight.gpu.energy_j"] == pytest.approx(300.0)
    declare_model_device("cpu", name="llm")  # the CPU fallback: billing stops at once
    off = rig.request(1.0)
    assert off["infersight.gpu.energy_j"] == 0.0 and off["infersight.gpu.seconds"] == 0.0
    assert off["infersight.gpu.work"] is False and off["infersight.model.device"] == "cpu"
    assert off["infersight.gpu.cost_usd"] == 0.0
    declare_model_device("cuda:0", name="llm")
    back = rig.request(1.0)
    assert back["infersight.gpu.energy_j"] == pytest.approx(300.0)
    assert back["infersight.model.device"] == "cuda:0"
    e = dict(rig.plane.ledger.consumers().energy_j)
    assert e["idle"] == pytest.approx(300.0)  # the CPU second went to idle, not to a request
    rig.plane.shutdown()


def test_serving_without_gpu_activity_stops_billing_after_the_threshold(clock: ManualClock) -> None:
    gpu = FakeGpu(util_gpu=0, power_mw=100_000, procs=[(ME, 2**30)])
    rig = Rig(gpu, clock, no_gpu_work_after_s=1.0)
    first = rig.request(2.0, steps=20)  # the GPU sits idle while this process serves
    assert first["infersight.gpu.work"] is False
    assert first["infersight.gpu.seconds"] == pytest.approx(1.0, abs=0.11)  # billed until 1 s of proof
    later = rig.request(1.0)
    assert later["infersight.gpu.energy_j"] == 0.0 and later["infersight.gpu.seconds"] == 0.0
    gpu.util_gpu = 50  # kernels again: billed from the next utilisation reading
    again = rig.request(1.0)
    assert again["infersight.gpu.work"] is True
    assert again["infersight.gpu.seconds"] == pytest.approx(1.0, abs=0.21)
    rig.plane.shutdown()


def test_torch_without_cuda_means_no_gpu_work(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # torch imported by the app, CUDA unavailable (the driver/toolkit mismatch incident)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False)))
    rig = Rig(FakeGpu(util_gpu=40, power_mw=200_000, procs=[]), clock)
    a = rig.request(1.0)
    assert a["infersight.gpu.energy_j"] == 0.0 and a["infersight.gpu.work"] is False
    m = rig.prom()
    assert m[("infersight_gpu_consumer_seconds_total", (("consumer", "idle"),))] > 0.9
    rig.plane.shutdown()
