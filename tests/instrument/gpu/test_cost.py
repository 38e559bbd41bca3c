"""The built-in price table and price resolution."""

from __future__ import annotations

import pytest
from infersight.instrument.gpu import PRICES, GpuConfigError, resolve_price


def test_every_price_has_a_source_and_a_positive_value() -> None:
    assert {p.gpu for p in PRICES} >= {"T4", "V100", "A100", "H100"}
    for p in PRICES:
        assert p.usd_per_gpu_hour > 0 and "http" in p.source, p.key


def test_per_gpu_price_divides_the_instance_price() -> None:
    p4d = next(p for p in PRICES if p.key == "p4d.24xlarge")
    assert p4d.usd_per_gpu_hour == pytest.approx(32.77 / 8)


def test_resolution_order() -> None:
    assert resolve_price(1.25, "p3.2xlarge").usd_per_gpu_hour == 1.25
    assert resolve_price(None, "g4dn.xlarge").source == "instance_type"
    assert resolve_price(None, None, ("Tesla T4",)).instance_type == "g4dn.xlarge"
    assert resolve_price(None, None, ("NVIDIA H100 80GB HBM3",)).source == "gpu_model"
    none = resolve_price(None, None, ("NVIDIA GeForce RTX 4090",))
    assert none.usd_per_gpu_hour is None and none.source == "none"


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "cheap"])
def test_bad_prices_are_refused(bad: object) -> None:
    with pytest.raises(GpuConfigError):
        resolve_price(bad, None)  # type: ignore[arg-type]
