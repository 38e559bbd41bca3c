"""The fake NVML must look like pynvml: same codes, constants, error classes and call shapes."""

from __future__ import annotations

import pytest

from tests.instrument.gpu import fake_nvml
from tests.instrument.gpu.fake_nvml import FakeNvml

pynvml = pytest.importorskip("pynvml")


def test_error_codes_and_constants_match_pynvml() -> None:
    fake = FakeNvml()
    names = [n for n in dir(fake_nvml) if n.startswith(("NVML_", "nvml")) and
             isinstance(getattr(fake_nvml, n), int)]
    assert len(names) > 20
    for name in names:
        assert getattr(fake, name) == getattr(pynvml, name), name


def test_error_classes_map_codes_like_pynvml() -> None:
    for code in (fake_nvml.NVML_ERROR_NOT_SUPPORTED, fake_nvml.NVML_ERROR_GPU_IS_LOST,
                 fake_nvml.NVML_ERROR_UNINITIALIZED):
        fake_exc = fake_nvml.NVMLError(code)
        real_exc = pynvml.NVMLError(code)
        assert type(fake_exc).__name__ == type(real_exc).__name__
        assert isinstance(fake_exc, fake_nvml.NVMLError) and fake_exc.value == real_exc.value == code


def test_functions_exist_in_pynvml() -> None:
    fns = [n for n in dir(FakeNvml) if n.startswith("nvml")]
    assert len(fns) > 20
    missing = [n for n in fns if not callable(getattr(pynvml, n, None))]
    assert missing == []
