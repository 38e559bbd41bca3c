"""Moved to :mod:`infersight.instrument.metrics.catalog`; kept so existing imports keep working."""

from infersight.instrument.metrics.catalog import BY_NAME, CATALOG, MetricSpec, MetricType, all_series_names

__all__ = ["BY_NAME", "CATALOG", "MetricSpec", "MetricType", "all_series_names"]
