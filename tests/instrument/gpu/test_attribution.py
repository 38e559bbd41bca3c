"""Per-request attribution: the fair-share ledger and the request hook on real SDK spans."""

from __future__ import annotations

import random

import pytest
from infersight.instrument.gpu import GpuConfigError, Sweep, attribute, install, reason_bits
from infersight.instrument.gpu._attribution import Ledger
from infersight.instrument.gpu._types import DeviceSample
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from tests.instrument.gpu.conftest import ManualClock
from tests.instrument.gpu.fake_nvml import FakeGpu, FakeNvml

SW_POWER_CAP = FakeNvml().nvmlClocksEventReasonSwPowerCap
IDLE = FakeNvml().nvmlClocksEventReasonGpuIdle


class Feed:
    """Drives a Ledger with sweeps of one or more fake devices at chosen times."""

    def __init__(self, ledger: Ledger, clock: ManualClock) -> None:
        self.ledger, self.clock, self.seq = ledger, clock, 0

    def sweep(self, *powers: float, util: float = 1.0, reasons: int = 0) -> None:
        self.seq += 1
        devs = tuple(DeviceSample(str(i), f"GPU-{i}", "H100", None,
                                  {"power_w": p, "util_gpu": util}, reasons)
                     for i, p in enumerate(powers))
        self.ledger.on_sweep(Sweep(self.seq, self.clock(), 0.0, True, devs))


@pytest.fixture
def ledger(clock: ManualClock) -> Ledger:
    led = Ledger(clock=clock)
    led.bits = reason_bits(FakeNvml())
    return led


def test_concurrent_requests_share_equally(ledger: Ledger, clock: ManualClock) -> None:
    feed = Feed(ledger, clock)
    feed.sweep(100.0)
    a = ledger.begin(clock())
    for _ in range(5):
        clock.advance(0.1)
        feed.sweep(100.0)
    b = ledger.begin(clock())  # t = 0.5 s
    for _ in range(5):
        clock.advance(0.1)
        feed.sweep(100.0)
    ra, rb = ledger.end(a, clock()), ledger.end(b, clock())
    assert ra.energy_j == pytest.approx(50.0 + 25.0)
    assert rb.energy_j == pytest.approx(25.0)
    assert ra.gpu_seconds == pytest.approx(0.75) and rb.gpu_seconds == pytest.approx(0.25)
    assert ra.util_mean == pytest.approx(1.0) and ra.power_mean_w == pytest.approx(100.0)
    assert ra.samples == 10 and rb.samples == 5


def test_weights_split_in_proportion(clock: ManualClock) -> None:
    ledger = Ledger(split="tokens", clock=clock)
    feed = Feed(ledger, clock)
    feed.sweep(400.0)
    a, b = ledger.begin(clock()), ledger.begin(clock())
    ledger.reweight(a, 3.0, clock())
    ledger.reweight(b, 1.0, clock())
    for _ in range(10):
        clock.advance(0.1)
        feed.sweep(400.0)
    ra, rb = ledger.end(a, clock()), ledger.end(b, clock())
    assert ra.energy_j == pytest.approx(300.0) and rb.energy_j == pytest.approx(100.0)


def test_power_change_between_sweeps_is_corrected_at_the_next_sweep(
        ledger: Ledger, clock: ManualClock) -> None:
    feed = Feed(ledger, clock)
    feed.sweep(100.0)
    r = ledger.begin(clock())
    clock.advance(1.0)
    feed.sweep(300.0)  # trapezoid: (100 + 300) / 2 * 1 s = 200 J, the estimate held 100 J
    clock.advance(1.0)
    feed.sweep(300.0)
    assert ledger.end(r, clock()).energy_j == pytest.approx(200.0 + 300.0)


def test_idle_energy_is_not_attributed(ledger: Ledger, clock: ManualClock) -> None:
    feed = Feed(ledger, clock)
    feed.sweep(100.0)
    clock.advance(1.0)
    feed.sweep(100.0)
    r = ledger.begin(clock())
    clock.advance(1.0)
    feed.sweep(100.0)
    assert ledger.end(r, clock()).energy_j == pytest.approx(100.0)
    assert ledger.idle_energy_j == pytest.approx(100.0)


def test_energy_is_conserved_across_random_traffic(clock: ManualClock) -> None:
    rng = random.Random(7)
    ledger = Ledger(clock=clock)
    feed = Feed(ledger, clock)
    powers = [rng.uniform(50, 700), rng.uniform(50, 700)]
    feed.sweep(*powers)
    truth, done, open_ = 0.0, 0.0, []
    for _ in range(400):
        step = rng.uniform(0.001, 0.05)
        clock.advance(step)
        roll = rng.random()
        if roll < 0.3:
            open_.append(ledger.begin(clock()))
        elif roll < 0.55 and open_:
            done += ledger.end(open_.pop(rng.randrange(len(open_))), clock()).energy_j
        elif roll < 0.65 and open_:
            ledger.reweight(rng.choice(open_), rng.uniform(0.5, 5), clock())
        elif roll < 0.85:
            new = [rng.uniform(50, 700), rng.uniform(50, 700)]
            dt = (clock() - ledger._prev_t) / 1e9
            truth += sum(0.5 * (p + q) * dt for p, q in zip(powers, new, strict=True))
            powers = new
            feed.sweep(*powers)
    for st in open_:
        done += ledger.end(st, clock()).energy_j
    clock.advance(0.1)
    truth += sum(powers) * (clock() - ledger._prev_t) / 1e9  # held power since the last sweep
    feed.sweep(*powers)
    # every joule of integrated power went to a request or to the idle pool
    assert done + ledger.idle_energy_j == pytest.approx(truth, rel=1e-9)
    assert ledger.attributed_energy_j == pytest.approx(done, rel=1e-12)


def test_throttle_seen_during_the_request_only(ledger: Ledger, clock: ManualClock) -> None:
    feed = Feed(ledger, clock)
    feed.sweep(100.0, reasons=IDLE)
    early = ledger.begin(clock())
    clock.advance(0.1)
    feed.sweep(690.0, reasons=SW_POWER_CAP)
    clock.advance(0.1)
    feed.sweep(500.0, reasons=0)
    r_early = ledger.end(early, clock())
    late = ledger.begin(clock())
    clock.advance(0.1)
    feed.sweep(500.0, reasons=0)
    r_late = ledger.end(late, clock())
    assert r_early.throttled and r_early.reasons == ("sw_power_cap",)  # idle is not reported
    assert not r_late.throttled and r_late.reasons == ()


def test_bad_split_is_refused() -> None:
    with pytest.raises(GpuConfigError, match="split"):
        Ledger(split="by-vibes")


def _span_tools() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp, exporter


def test_hook_sets_span_attributes_and_cost(clock: ManualClock) -> None:
    gpu = FakeGpu(power_mw=360_000, util_gpu=50, reasons=SW_POWER_CAP)
    plane = install(nvml=FakeNvml([gpu]), registry=CollectorRegistry(), price_per_gpu_hour=3.6,
                    clock=clock)
    sampler = plane.sampler
    sampler.stop()  # no thread: drive the sweeps by hand, deterministically
    sampler.open()
    tp, exporter = _span_tools()
    sampler.sweep_once()
    span = tp.get_tracer("t").start_span("POST /infer")
    st = plane.hook.on_request_start(span, clock())
    assert attribute(tokens=500) is True
    clock.advance(1.0)
    sampler.sweep_once()
    plane.hook.on_request_end(span, st, 0, clock())
    span.end()
    assert attribute(tokens=1) is False  # the request is over
    a = exporter.get_finished_spans()[0].attributes
    assert a["infersight.gpu.energy_j"] == pytest.approx(360.0)
    assert a["infersight.gpu.seconds"] == pytest.approx(1.0)
    assert a["infersight.gpu.busy_seconds"] == pytest.approx(0.5)
    assert a["infersight.gpu.util_mean"] == pytest.approx(0.5)
    assert a["infersight.gpu.cost_usd"] == pytest.approx(0.001)
    assert a["infersight.gpu.cost_per_1k_tokens_usd"] == pytest.approx(0.002)
    assert a["infersight.gpu.tokens"] == 500
    assert a["infersight.gpu.throttled"] is True
    assert list(a["infersight.gpu.clock_event_reasons"]) == ["sw_power_cap"]
    events = exporter.get_finished_spans()[0].events
    assert [e.name for e in events] == ["infersight.gpu.throttled"]
    assert plane.attributed_cost_usd == pytest.approx(0.001)
    plane.shutdown()


def test_attribute_outside_a_request_is_a_no_op() -> None:
    assert attribute(tokens=10) is False
    assert attribute(weight=2.0) is False


def test_power_mean_of_a_short_request_stays_within_the_readings(ledger: Ledger, clock: ManualClock) -> None:
    # A request that straddles a sweep must not absorb the whole previous interval's energy
    # correction into its mean power (seen on the H100: -935 W .. 2362 W on a 700 W card).
    feed = Feed(ledger, clock)
    feed.sweep(100.0)
    clock.advance(0.099)
    st = ledger.begin(clock())
    clock.advance(0.001)
    feed.sweep(700.0)  # the interval's energy is corrected upward here
    clock.advance(0.001)
    r = ledger.end(st, clock())
    assert r.power_mean_w is not None
    assert 100.0 <= r.power_mean_w <= 700.0
