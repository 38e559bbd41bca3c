"""The one exception tree of :mod:`infersight.instrument`."""

from __future__ import annotations


class InstrumentError(Exception):
    """Base class of every error raised by infersight.instrument."""


class ConfigurationError(InstrumentError, ValueError):
    """An argument or OTEL_* environment value cannot be used (the message says which)."""


class AlreadyInstrumentedError(InstrumentError):
    """Raised only by helpers that cannot silently ignore a second instrumentation."""


__all__ = ["InstrumentError", "ConfigurationError", "AlreadyInstrumentedError"]
