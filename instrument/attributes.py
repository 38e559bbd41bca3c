"""Moved to :mod:`infersight.instrument.metrics.attributes`; kept so existing imports keep working."""

from infersight.instrument.metrics.attributes import ATTRIBUTES, BY_NAME, AttributeSpec, On, Source, spellings

__all__ = ["ATTRIBUTES", "BY_NAME", "AttributeSpec", "On", "Source", "spellings"]
