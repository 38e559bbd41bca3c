"""The real NVML path (marked gpu; skipped where no NVIDIA driver answers, i.e. in CI).

The recorded evidence of a full run on an H100 is benchmarks/results/gpu_h100.json, made by
benchmarks/gpu/h100_run.py.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.gpu


@pytest.fixture
def pynvml():  # type: ignore[no-untyped-def]
    mod = pytest.importorskip("pynvml")
    try:
        mod.nvmlInit()
    except Exception as exc:
        pytest.skip(f"no NVIDIA driver here: {exc}")
    yield mod
    mod.nvmlShutdown()


def test_real_gpu_is_sampled(pynvml) -> None:  # type: ignore[no-untyped-def]
    from infersight.instrument.gpu import install

    plane = install(registry=CollectorRegistry(), interval_s=0.1)
    try:
        sweep = plane.sampler.sweep_once()
        assert sweep.up and sweep.devices
        v = sweep.devices[0].values
        assert 0.0 <= v["util_gpu"] <= 1.0 and v["power_w"] > 0 and v["mem_total"] > 0
        assert v["sm_clock_hz"] > 0 and "energy_j" in v
    finally:
        plane.shutdown()
