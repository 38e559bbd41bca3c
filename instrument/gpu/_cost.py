"""GPU prices: an explicit price per GPU-hour, or a built-in table of common on-demand prices.

Every entry names where its number comes from. Prices move (AWS cut H100 prices ~44 % in June
2025); pass ``price_per_gpu_hour=`` for your contract, and treat the table as a default.
All prices USD per GPU-hour, on-demand, Linux, US regions, before discounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from infersight.instrument.gpu._errors import GpuConfigError


@dataclass(frozen=True)
class Price:
    key: str
    gpu: str
    gpus: int
    usd_per_instance_hour: float
    source: str

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.usd_per_instance_hour / self.gpus


PRICES: tuple[Price, ...] = (
    # AWS instance types (instance price / GPUs in it)
    Price("g4dn.xlarge", "T4", 1, 0.526,
          "AWS EC2 on-demand, us-east-1 (https://aws.amazon.com/ec2/pricing/on-demand/); "
          "1x T4 at $0.53/h also listed by https://computeprices.com/gpus/t4 (checked 2026-04-08)"),
    Price("p3.2xlarge", "V100", 1, 3.06,
          "AWS EC2 on-demand, us-east-1 (https://aws.amazon.com/ec2/pricing/on-demand/); "
          "long-standing list price, not re-checked against a stored copy of that page"),
    Price("p4d.24xlarge", "A100", 8, 32.77,
          "AWS EC2 on-demand, us-east-1, as quoted by https://www.xither.com/compare/"
          "gpu-compute-costs-on-prem-vs-cloud-vs-spot-instances (Q2 2024, $4.10/GPU-h)"),
    Price("p5.48xlarge", "H100", 8, 31.20,
          "AWS P5 after the June 2025 cut, ~$3.90/GPU-h, per https://costnimbus.com/article/"
          "gpu-cost-management-ml-teams (March 2026); list price before the cut was $98.32/h "
          "(https://computespec.pages.dev/learn/pricing/cost-per-gpu-hour)"),
    Price("lambda-1x-h100", "H100", 1, 2.49,
          "Lambda 1x H100, per https://computespec.pages.dev/learn/pricing/cost-per-gpu-hour"),
)
BY_KEY: dict[str, Price] = {p.key: p for p in PRICES}
# GPU model -> the entry used when only the GPU name (from NVML) is known.
BY_GPU: dict[str, Price] = {"T4": BY_KEY["g4dn.xlarge"], "V100": BY_KEY["p3.2xlarge"],
                            "A100": BY_KEY["p4d.24xlarge"], "H100": BY_KEY["p5.48xlarge"]}


@dataclass(frozen=True)
class PriceChoice:
    usd_per_gpu_hour: float | None
    instance_type: str
    source: str  # "explicit" | "instance_type" | "gpu_model" | "none"


def resolve_price(price_per_gpu_hour: float | str | None, instance_type: str | None,
                  gpu_names: tuple[str, ...] = ()) -> PriceChoice:
    """Explicit price > instance type in the table > GPU model named by NVML > none."""
    if price_per_gpu_hour is not None:
        try:
            p = float(price_per_gpu_hour)
        except (TypeError, ValueError):
            raise GpuConfigError(
                f"price_per_gpu_hour must be a number, got {price_per_gpu_hour!r}") from None
        if not p >= 0 or p == float("inf"):
            raise GpuConfigError(f"price_per_gpu_hour must be >= 0, got {price_per_gpu_hour!r}")
        return PriceChoice(p, instance_type or "", "explicit")
    if instance_type:
        entry = BY_KEY.get(instance_type)
        if entry is None:
            raise GpuConfigError(
                f"unknown instance_type {instance_type!r}; known: {sorted(BY_KEY)} "
                "(or pass price_per_gpu_hour=)")
        return PriceChoice(entry.usd_per_gpu_hour, instance_type, "instance_type")
    for name in gpu_names:
        for model, entry in BY_GPU.items():
            if model in name.upper():
                return PriceChoice(entry.usd_per_gpu_hour, entry.key, "gpu_model")
    return PriceChoice(None, "", "none")


__all__ = ["BY_GPU", "BY_KEY", "PRICES", "Price", "PriceChoice", "resolve_price"]
