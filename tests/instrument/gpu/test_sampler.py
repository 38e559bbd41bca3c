"""The NVML sampler against an injected fake: values, isolation of failures, recovery."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from infersight.instrument.gpu import GpuConfigError, GpuSampler, decode_reasons, reason_bits

from tests.instrument.gpu.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_TIMEOUT,
    FakeGpu,
    FakeNvml,
)


def _dev(sampler: GpuSampler, label: str = "0"):  # type: ignore[no-untyped-def]
    return next(d for d in sampler.last.devices if d.label == label)


def test_sweep_reads_every_field_in_si_units(fake: FakeNvml, gpu: FakeGpu) -> None:
    gpu.util_gpu, gpu.util_mem, gpu.power_mw, gpu.energy_mj = 93, 41, 512_000, 5_000_000
    gpu.sm_clock_mhz, gpu.reasons = 1980, fake.nvmlClocksEventReasonSwPowerCap
    s = GpuSampler(nvml=fake, pcie=True)
    assert s.open()
    sweep = s.sweep_once()
    assert sweep.up and sweep.seq == 1 and sweep.driver_version == "580.159.04"
    v = _dev(s).values
    assert v["util_gpu"] == pytest.approx(0.93) and v["util_mem"] == pytest.approx(0.41)
    assert v["power_w"] == pytest.approx(512.0) and v["energy_j"] == pytest.approx(5000.0)
    assert v["sm_clock_hz"] == pytest.approx(1.98e9) and v["sm_clock_max_hz"] == pytest.approx(1.98e9)
    assert v["mem_reserved"] == gpu.mem_reserved and v["mem_total"] == gpu.mem_total
    assert v["power_limit_w"] == pytest.approx(700.0)
    assert v["pcie_tx_bps"] == 100 * 1024 and v["pcie_rx_bps"] == 200 * 1024
    assert _dev(s).processes == ((4242, 3 * 2**30),)
    assert decode_reasons(_dev(s).reasons or 0, reason_bits(fake)) == ("sw_power_cap",)
    s.stop()


def test_power_is_the_instant_field_with_the_average_as_fallback(
        caplog: pytest.LogCaptureFixture) -> None:
    a = FakeGpu(uuid="GPU-a", power_mw=120_000, power_instant_mw=690_000)
    b = FakeGpu(uuid="GPU-b", power_mw=120_000, instant_supported=False)
    s = GpuSampler(nvml=FakeNvml([a, b]))
    s.open()
    with caplog.at_level(logging.INFO, logger="infersight.instrument.gpu"):
        for _ in range(3):
            s.sweep_once()
    assert _dev(s, "0").values["power_w"] == pytest.approx(690.0)
    assert _dev(s, "1").values["power_w"] == pytest.approx(120.0)
    assert s.read_errors == {("1", "power"): 1}
    assert len([r for r in caplog.records if "fallback" in r.getMessage()]) == 1


def test_pcie_is_not_read_unless_asked(gpu: FakeGpu, fake: FakeNvml) -> None:
    gpu.fail["nvmlDeviceGetPcieThroughput"] = NVML_ERROR_TIMEOUT  # would count as a read error
    s = GpuSampler(nvml=fake)
    s.open()
    s.sweep_once()
    assert "pcie_tx_bps" not in _dev(s).values and s.read_errors == {}


def test_reason_bits_come_from_the_module_constants(fake: FakeNvml) -> None:
    bits = dict(reason_bits(fake))
    assert bits["hw_thermal"] == fake.nvmlClocksEventReasonHwThermalSlowdown
    assert bits["hw_power_brake"] == fake.nvmlClocksEventReasonHwPowerBrakeSlowdown
    mask = fake.nvmlClocksEventReasonGpuIdle | fake.nvmlClocksEventReasonSwThermalSlowdown | 0x8000
    assert decode_reasons(mask, tuple(bits.items())) == ("idle", "sw_thermal", "bit_0x8000")


def test_unsupported_field_dropped_for_that_device_only_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    a = FakeGpu(uuid="GPU-a", fail={"nvmlDeviceGetTotalEnergyConsumption": NVML_ERROR_NOT_SUPPORTED})
    b = FakeGpu(uuid="GPU-b")
    fake = FakeNvml([a, b])
    s = GpuSampler(nvml=fake)
    assert s.open()
    with caplog.at_level(logging.INFO, logger="infersight.instrument.gpu"):
        for _ in range(5):
            s.sweep_once()
    assert "energy_j" not in _dev(s, "0").values and "power_w" in _dev(s, "0").values
    assert "energy_j" in _dev(s, "1").values
    assert s.read_errors == {("0", "energy"): 1}  # dropped after the first failure
    assert len([r for r in caplog.records if "energy" in r.getMessage()]) == 1


def test_memory_info_v2_unsupported_falls_back_to_v1(gpu: FakeGpu, fake: FakeNvml) -> None:
    gpu.fail["nvmlDeviceGetMemoryInfo_v2"] = NVML_ERROR_NOT_SUPPORTED
    s = GpuSampler(nvml=fake, slow_interval_s=0.1)  # memory is a slow (1 Hz) field: read it every sweep
    s.open()
    s.sweep_once()
    s.sweep_once()
    v = _dev(s).values
    assert "mem_reserved" not in v and v["mem_used"] == gpu.mem_used


def test_transient_error_drops_the_value_for_one_sweep(gpu: FakeGpu, fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake)
    s.open()
    s.sweep_once()
    gpu.fail["nvmlDeviceGetFieldValues"] = NVML_ERROR_TIMEOUT
    s.sweep_once()
    assert "power_w" not in _dev(s).values  # no stale value exported
    del gpu.fail["nvmlDeviceGetFieldValues"]
    s.sweep_once()
    assert _dev(s).values["power_w"] == pytest.approx(gpu.power_mw / 1000)


def test_device_lost_mid_run_keeps_the_others(caplog: pytest.LogCaptureFixture) -> None:
    a, b = FakeGpu(uuid="GPU-a"), FakeGpu(uuid="GPU-b")
    s = GpuSampler(nvml=FakeNvml([a, b]))
    s.open()
    assert len(s.sweep_once().devices) == 2
    a.lost = True
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            sweep = s.sweep_once()
    assert sweep.up and [d.uuid for d in sweep.devices] == ["GPU-b"]
    assert len([r for r in caplog.records if "lost" in r.getMessage()]) == 1


def test_driver_reload_goes_down_then_recovers(gpu: FakeGpu, fake: FakeNvml,
                                               caplog: pytest.LogCaptureFixture) -> None:
    s = GpuSampler(nvml=fake, retry_min_s=0.0)
    s.open()
    assert s.sweep_once().up
    fake.unload()
    with caplog.at_level(logging.WARNING):
        assert not s.sweep_once().up
        assert s.last.devices == ()
        assert not s.sweep_once().up  # still unloaded: retried, still down
    fake.load()
    gpu.power_mw = 300_000
    sweep = s.sweep_once()
    assert sweep.up and _dev(s).values["power_w"] == pytest.approx(300.0)
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("went away" in m for m in msgs) == 1


def test_all_devices_lost_counts_as_down_and_recovers_when_back(gpu: FakeGpu,
                                                                fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake, retry_min_s=0.0)
    s.open()
    gpu.lost = True
    assert not s.sweep_once().up
    gpu.lost = False
    assert s.sweep_once().up


def test_mig_instances_are_sampled_as_children() -> None:
    parent = FakeGpu(uuid="GPU-p", mig=[FakeGpu(uuid="MIG-0", mem_used=5 * 2**30)])
    s = GpuSampler(nvml=FakeNvml([parent]))
    s.open()
    sweep = s.sweep_once()
    mig = next(d for d in sweep.devices if d.parent == "0")
    assert mig.label == "0/mig0" and mig.uuid == "MIG-0" and mig.values["mem_used"] == 5 * 2**30


def test_xid_events_are_counted(gpu: FakeGpu, fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake, interval_s=0.1, slow_interval_s=0.1)
    s.open()
    gpu.pending_xids.extend([79, 79, 48])
    s.sweep_once()
    assert _dev(s).xid_counts == {79: 2, 48: 1}


def test_slow_fields_are_read_at_the_slow_interval(gpu: FakeGpu, fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake, interval_s=0.1, slow_interval_s=1.0)
    s.open()
    s.sweep_once()
    gpu.power_limit_mw, gpu.power_mw = 350_000, 123_000
    s.sweep_once()
    assert _dev(s).values["power_limit_w"] == pytest.approx(700.0)  # slow: not yet
    assert _dev(s).values["power_w"] == pytest.approx(123.0)  # fast: now
    for _ in range(9):
        s.sweep_once()
    assert _dev(s).values["power_limit_w"] == pytest.approx(350.0)


def test_energy_counter_is_read_at_its_own_interval(gpu: FakeGpu, fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake, interval_s=0.1, energy_interval_s=0.5)
    s.open()
    s.sweep_once()
    assert _dev(s).values["energy_j"] == pytest.approx(1000.0)
    gpu.energy_mj = 2_000_000
    for _ in range(4):
        s.sweep_once()
    assert _dev(s).values["energy_j"] == pytest.approx(1000.0)  # held, not re-read yet
    s.sweep_once()  # sweep 6: due again
    assert _dev(s).values["energy_j"] == pytest.approx(2000.0)
    with pytest.raises(GpuConfigError, match="energy_interval_s"):
        GpuSampler(nvml=fake, energy_interval_s=0)


@pytest.mark.parametrize("bad", [0.005, 1.5, 0, -1, "fast", True])
def test_interval_outside_1_to_100_hz_is_refused(bad: object) -> None:
    with pytest.raises(GpuConfigError, match="interval_s"):
        GpuSampler(nvml=FakeNvml(), interval_s=bad)  # type: ignore[arg-type]


def test_thread_samples_and_stops(fake: FakeNvml) -> None:
    s = GpuSampler(nvml=fake, interval_s=0.01)
    assert s.start()
    deadline = time.monotonic() + 10
    while s.last.seq < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    thread = s._thread
    s.stop()
    assert s.last.seq >= 5 and not s.last.up
    assert thread is not None and not thread.is_alive()
    assert not fake.initialized  # nvmlShutdown was called


def test_init_failure_is_one_warning_and_no_thread(caplog: pytest.LogCaptureFixture) -> None:
    s = GpuSampler(nvml=FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED))
    with caplog.at_level(logging.WARNING):
        assert not s.start()
    assert s._thread is None and not s.last.up and not s.available
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "DriverNotLoaded" in warnings[0].getMessage() or \
        "Driver Not Loaded" in warnings[0].getMessage()


def test_no_gpu_visible_is_one_warning() -> None:
    s = GpuSampler(nvml=FakeNvml([]))
    assert not s.start() and not s.last.up


def test_without_pynvml_the_sampler_warns_once_and_stays_down() -> None:
    code = (
        "import logging, sys\n"
        "sys.modules['pynvml'] = None  # as if nvidia-ml-py were not installed\n"
        "logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(message)s')\n"
        "from infersight.instrument.gpu import GpuSampler\n"
        "s = GpuSampler()\n"
        "print('started', s.start(), 'up', s.last.up)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "started False up False" in r.stdout
    assert r.stderr.count("WARNING") == 1 and "pynvml is not installed" in r.stderr


def test_real_pynvml_without_a_driver_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass  # the CI case: the library or driver is missing
    else:
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver answers here; covered by test_real_gpu.py")
    with caplog.at_level(logging.WARNING):
        s = GpuSampler()  # the real pynvml module, no injection
        assert not s.start()
    assert not s.last.up and s._thread is None
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_each_tier_is_read_at_its_own_pace_and_all_on_the_first_sweep(gpu: FakeGpu, fake: FakeNvml) -> None:
    # 10 Hz: power/clock/reasons every sweep, utilisation every 0.2 s (the driver's own refresh),
    # memory every 1 s; a fresh reader reads every tier on its first sweep whatever the phase
    s = GpuSampler(nvml=fake, interval_s=0.1, util_interval_s=0.2, slow_interval_s=1.0)
    s.open()
    gpu.util_gpu, gpu.mem_used = 10, 3 * 2**30
    s.sweep_once()
    v = _dev(s).values
    assert v["util_gpu"] == pytest.approx(0.10) and v["mem_used"] == 3 * 2**30
    gpu.util_gpu, gpu.mem_used, gpu.power_mw = 70, 5 * 2**30, 222_000
    s.sweep_once()  # sweep 2: only the fast tier
    assert _dev(s).values["power_w"] == pytest.approx(222.0)
    assert _dev(s).values["util_gpu"] == pytest.approx(0.10) and _dev(s).values["mem_used"] == 3 * 2**30
    s.sweep_once()  # sweep 3: utilisation due
    assert _dev(s).values["util_gpu"] == pytest.approx(0.70) and _dev(s).values["mem_used"] == 3 * 2**30
    for _ in range(8):
        s.sweep_once()  # sweep 11: memory due
    assert _dev(s).values["mem_used"] == 5 * 2**30
    with pytest.raises(GpuConfigError, match="util_interval_s"):
        GpuSampler(nvml=fake, util_interval_s=-1)

