"""Metric specs for HTTP RED, Python runtime, jobs, caches and exporter health.

Owned by the instrument core; see :mod:`infersight.instrument.catalog`.
"""

from __future__ import annotations

from infersight.instrument.catalog import MetricSpec

METRICS: tuple[MetricSpec, ...] = ()
