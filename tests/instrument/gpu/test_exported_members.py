"""The public surface of infersight.instrument.gpu is pinned."""

from __future__ import annotations

import infersight.instrument.gpu as gpu


def test_all_is_pinned() -> None:
    assert sorted(gpu.__all__) == sorted([
        "PRICES", "THROTTLE_REASONS", "Attribution", "DeviceSample", "GpuCollector",
        "GpuConfigError", "GpuError", "GpuPlane", "GpuRequestHook", "GpuSampler", "Price",
        "PriceChoice", "Sweep", "attribute", "decode_reasons", "install", "reason_bits", "record_gpu_oom",
        "resolve_price", "start_sampler",
    ])
    for name in gpu.__all__:
        assert getattr(gpu, name) is not None


def test_errors_form_one_tree() -> None:
    assert issubclass(gpu.GpuConfigError, gpu.GpuError)
    assert issubclass(gpu.GpuConfigError, ValueError)
