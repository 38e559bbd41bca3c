"""The one exception tree of :mod:`infersight.instrument` (under :class:`infersight.InfersightError`)."""

from __future__ import annotations

from infersight._errors import BadArgumentError, InfersightError


class InstrumentError(InfersightError):
    """Base class of every error raised by infersight.instrument (the GPU plane's included)."""


class ConfigurationError(InstrumentError, BadArgumentError):
    """A bad argument or ``OTEL_*``/``INFERSIGHT_*`` environment value (the message says which);
    the instrument part's one bad-argument class (a ``ValueError``)."""


class AlreadyInstrumentedError(InstrumentError):
    """Raised only by helpers that cannot silently ignore a second instrumentation."""


__all__ = ["InstrumentError", "ConfigurationError", "AlreadyInstrumentedError"]
