"""Fixtures for the GPU plane tests: an injected fake NVML and a manual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.instrument.gpu.fake_nvml import FakeGpu, FakeNvml


class ManualClock:
    """time.time_ns stand-in the test moves by hand."""

    def __init__(self, t_ns: int = 1_700_000_000_000_000_000) -> None:
        self.t = t_ns

    def __call__(self) -> int:
        return self.t

    def advance(self, seconds: float) -> int:
        self.t += int(round(seconds * 1e9))
        return self.t


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gpu() -> FakeGpu:
    return FakeGpu(procs=[(4242, 3 * 2**30)], proc_util=[])


@pytest.fixture
def fake(gpu: FakeGpu) -> FakeNvml:
    return FakeNvml([gpu])


@pytest.fixture(autouse=True)
def _forget_model_devices() -> Iterator[None]:
    """Declared model devices are process-wide: every test starts and ends with none."""
    from infersight.instrument.runtime._device import MODEL_DEVICES

    for m in MODEL_DEVICES.snapshot():
        MODEL_DEVICES.forget(m.name)
    yield
    for m in MODEL_DEVICES.snapshot():
        MODEL_DEVICES.forget(m.name)


@pytest.fixture(autouse=True)
def _fresh_alloc_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The allocation-failure counts are process-wide: every test starts from zero."""
    from infersight.instrument.gpu._memory import ALLOC, KINDS

    monkeypatch.setattr(ALLOC, "app", dict.fromkeys(KINDS, 0))
    monkeypatch.setattr(ALLOC, "torch", dict.fromkeys(KINDS, 0))
    monkeypatch.setattr(ALLOC, "torch_seen", False)
