"""Prometheus exposition: a Collector whose ``collect()`` only reads the cached last sweep."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from infersight.instrument.gpu._catalog import METRICS
from infersight.instrument.gpu._memory import ALLOC
from infersight.instrument.gpu._series import points
from infersight.instrument.gpu._shares import process_name
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from infersight.instrument.gpu._attribution import Ledger
    from infersight.instrument.gpu._cost import PriceChoice
    from infersight.instrument.gpu._sampler import GpuSampler

_SPECS = {s.name: s for s in METRICS}


def _family(name: str) -> Metric:
    spec = _SPECS[name]
    if spec.type == "counter":
        return CounterMetricFamily(name, spec.help, labels=spec.labels)
    if spec.type == "info":
        return InfoMetricFamily(name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


class GpuCollector(Collector):
    """Register on a ``CollectorRegistry``; reads ``sampler.last`` (never NVML)."""

    def __init__(self, sampler: GpuSampler, *, ledger: Ledger | None = None,
                 price: PriceChoice | None = None, cost_total: Any = None) -> None:
        self.sampler = sampler
        self.ledger = ledger
        self.price = price
        self.cost_total = cost_total  # callable -> float (USD attributed so far)
        self.pid = os.getpid()
        self.process_name = process_name(self.pid)

    def describe(self) -> Iterator[Metric]:
        for spec in METRICS:
            if spec.source == "gpu":
                yield _family(spec.name)

    def collect(self) -> Iterator[Metric]:
        sweep = self.sampler.last
        fams: dict[str, Metric] = {}

        def fam(name: str) -> Any:
            f = fams.get(name)
            if f is None:
                f = fams[name] = _family(name)
            return f

        fam("infersight_gpu_up").add_metric([], 1.0 if sweep.up else 0.0)
        if self.sampler.available:
            fam("infersight_gpu_sweeps").add_metric([], float(sweep.seq))
            fam("infersight_gpu_sweep_duration_seconds").add_metric([], sweep.duration_s)
            for (label, field), n in self.sampler.read_errors.items():
                fam("infersight_gpu_read_errors").add_metric([label, field], float(n))
        api = self.sampler.api
        bits = api.reasons if api is not None else ()
        for d in sweep.devices:
            fam("infersight_gpu").add_metric(
                [d.label, d.uuid, d.name, sweep.driver_version, d.parent or ""], {})
        for name, d, extra, value in points(sweep, bits):
            fam(name).add_metric([d.label, d.uuid, d.name, *(v for _, v in extra)], value)
        if self.ledger is not None and self.sampler.available:
            c = self.ledger.consumers()
            fam("infersight_gpu_attributed_energy_joules").add_metric([], c.attributed_energy_j)
            fam("infersight_gpu_idle_energy_joules").add_metric([], c.idle_energy_j)
            for consumer, joules in c.energy_j:
                fam("infersight_gpu_consumer_energy_joules").add_metric([consumer], joules)
            for consumer, seconds in c.seconds:
                fam("infersight_gpu_consumer_seconds").add_metric([consumer], seconds)
            proc = fam("infersight_gpu_process_energy_joules")
            proc.add_metric([str(self.pid), self.process_name, "self"], c.self_energy_j)
            for pid, name, joules in c.other_pids:
                proc.add_metric([str(pid), name, "other"], joules)
        alloc = ALLOC.series()
        if self.sampler.available or any(n for _, _, n in alloc):  # no GPU: only once one happened
            for kind, source, n in alloc:
                fam("infersight_gpu_allocation_failures").add_metric([kind, source], float(n))
        if self.price is not None and self.price.usd_per_gpu_hour is not None:
            fam("infersight_gpu_price_per_hour_usd").add_metric(
                [self.price.instance_type, self.price.source], self.price.usd_per_gpu_hour)
            if self.cost_total is not None:
                fam("infersight_gpu_attributed_cost_usd").add_metric([], float(self.cost_total()))
        yield from fams.values()


__all__ = ["GpuCollector"]
