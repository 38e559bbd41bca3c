"""Metric specs for the NVML GPU plane. See :mod:`infersight.instrument.catalog`."""

from __future__ import annotations

from infersight.instrument.catalog import MetricSpec

METRICS: tuple[MetricSpec, ...] = ()
