"""Fixtures for the GPU plane tests: an injected fake NVML and a manual clock."""

from __future__ import annotations

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
    return FakeGpu(procs=[(4242, 3 * 2**30)])


@pytest.fixture
def fake(gpu: FakeGpu) -> FakeNvml:
    return FakeNvml([gpu])
