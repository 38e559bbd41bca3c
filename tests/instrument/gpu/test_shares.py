"""Who used the GPU: per-process utilisation reads (only when needed) and the split they give."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest
from infersight.instrument.gpu import GpuSampler
from infersight.instrument.gpu._shares import UNKNOWN_PID, aggregate, derive, self_pids

from tests.instrument.gpu.fake_nvml import NVML_ERROR_NOT_SUPPORTED, FakeGpu, FakeNvml

ME = os.getpid()
MINE = frozenset({ME})
OTHER = 999_999


def test_derive_measured_split_and_fallbacks() -> None:
    measured = derive(0.9, [ME, OTHER], {ME: 0.2, OTHER: 0.7}, MINE, True)
    assert (measured.source, measured.self_util, measured.other) == (
        "process_utilization", 0.2, ((OTHER, 0.7),))
    assert measured.other_util == pytest.approx(0.7) and measured.measured
    alone = derive(0.6, [ME], None, MINE, True)
    assert (alone.source, alone.self_util, alone.other) == ("single_process", 0.6, ())
    unsupported = derive(0.6, [ME, OTHER], None, MINE, None)
    assert (unsupported.source, unsupported.self_util) == ("device", 0.6) and not unsupported.measured
    # off the GPU (model on the CPU) and no per-process figures: the activity is someone else's
    off = derive(0.6, [OTHER], None, MINE, False)
    assert (off.self_util, off.other) == (0.0, ((UNKNOWN_PID, 0.6),))
    # our model is on the GPU but NVML does not list our pid (container pid namespace):
    # the measured figures cannot be matched, so the whole device counts as ours
    mismatch = derive(0.6, [OTHER], {OTHER: 0.6}, MINE, True)
    assert (mismatch.source, mismatch.self_util, mismatch.other) == ("device", 0.6, ())


def test_aggregate_averages_over_the_distinct_sample_times() -> None:
    s = [SimpleNamespace(pid=1, timeStamp=10, smUtil=50), SimpleNamespace(pid=2, timeStamp=10, smUtil=30),
         SimpleNamespace(pid=1, timeStamp=20, smUtil=70)]  # pid 2 idle in the second period
    assert aggregate(s) == {1: pytest.approx(0.6), 2: pytest.approx(0.15)}


def test_self_pids_include_extra_ones() -> None:
    assert {ME, 4242} <= self_pids([4242])


def _sampler(gpu: FakeGpu, **kw: object) -> tuple[GpuSampler, FakeNvml]:
    fake = FakeNvml([gpu])
    s = GpuSampler(nvml=fake, slow_interval_s=1.0, on_gpu=lambda: True, **kw)  # type: ignore[arg-type]
    assert s.open()
    return s, fake


def test_process_utilisation_is_read_on_the_slow_tier_only_when_another_process_is_there() -> None:
    gpu = FakeGpu(util_gpu=90, procs=[(ME, 2**30), (OTHER, 2**30)], proc_util=[(ME, 20), (OTHER, 70)])
    s, fake = _sampler(gpu)
    for _ in range(20):  # 2 s at 10 Hz: the slow tier came twice
        s.sweep_once()
    assert fake.proc_util_calls == 2
    d = s.last.devices[0]
    assert d.share is not None and d.share.source == "process_utilization"
    assert d.share.self_util == pytest.approx(0.2) and d.share.other == ((OTHER, pytest.approx(0.7)),)
    assert d.process_util == ((ME, pytest.approx(0.2)), (OTHER, pytest.approx(0.7)))
    gpu.procs = [(ME, 2**30)]  # the other process is gone: no more per-process reads
    for _ in range(20):
        s.sweep_once()
    assert fake.proc_util_calls == 2
    d = s.last.devices[0]
    assert d.share is not None and d.share.source == "single_process"
    assert d.share.self_util == pytest.approx(0.9) and d.process_util is None


def test_nobody_busy_is_not_an_error_and_unsupported_falls_back_once(
        caplog: pytest.LogCaptureFixture) -> None:
    gpu = FakeGpu(util_gpu=0, procs=[(ME, 2**30), (OTHER, 2**30)], proc_util=[(ME, 0), (OTHER, 0)])
    s, fake = _sampler(gpu)
    s.sweep_once()
    d = s.last.devices[0]
    assert d.process_util == () and s.read_errors == {}  # NOT_FOUND: no process ran kernels
    assert d.share is not None and (d.share.self_util, d.share.other) == (0.0, ())
    gpu.proc_util = None  # NOT_SUPPORTED from now on (the fake's older GPU)
    with caplog.at_level(logging.INFO, logger="infersight.instrument.gpu"):
        for _ in range(30):
            s.sweep_once()
    d = s.last.devices[0]
    assert d.share is not None and d.share.source == "device"
    # one error per API tried (the old call, then the newer one the fake lacks), then never again
    assert s.read_errors == {("0", "process_utilization"): 1}
    assert fake.proc_util_calls == 2
    assert sum("process_utilization" in r.getMessage() for r in caplog.records) == 1
    gpu.fail["nvmlDeviceGetProcessUtilization"] = NVML_ERROR_NOT_SUPPORTED  # unchanged: not read


def test_share_samples_export_the_processes_with_names_and_consumer() -> None:
    from infersight.instrument.gpu import GpuCollector
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    gpu = FakeGpu(util_gpu=90, procs=[(ME, 2**30), (OTHER, 5 * 2**30)], proc_util=[(ME, 20), (OTHER, 70)])
    s, _ = _sampler(gpu)
    s.sweep_once()
    reg = CollectorRegistry()
    reg.register(GpuCollector(s))
    got = {(smp.name, smp.labels.get("pid"), smp.labels.get("process_name"), smp.labels.get("consumer"),
            smp.labels.get("source")): smp.value
           for fam in text_string_to_metric_families(generate_latest(reg).decode()) for smp in fam.samples}
    with open(f"/proc/{ME}/comm") as f:
        me = f.read().strip()
    assert got[("infersight_gpu_process_memory_used_bytes", str(ME), me, "self", None)] == 2**30
    # no such pid on this machine: NVML named it, /proc cannot
    assert got[("infersight_gpu_process_memory_used_bytes", str(OTHER), "", "other", None)] == 5 * 2**30
    assert got[("infersight_gpu_process_utilization_ratio", str(OTHER), "", "other", None)] == pytest.approx(0.7)
    assert got[("infersight_gpu_process_utilization_ratio", str(ME), me, "self", None)] == pytest.approx(0.2)
    assert got[("infersight_gpu_share_measured", None, None, None, "process_utilization")] == 1.0
