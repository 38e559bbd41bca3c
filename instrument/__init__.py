"""infersight.instrument: one call gives a model server traces, RED metrics and runtime signals.

    from infersight.instrument import instrument_app
    instrument_app(app, service_name="glm-server")
"""

from __future__ import annotations

from infersight.instrument import catalog as catalog  # load the catalog before its parts
from infersight.instrument._app import (
    add_readiness_check,
    instrument_app,
    instrumentation_of,
    uninstrument_app,
)
from infersight.instrument._config import Telemetry, configure
from infersight.instrument._errors import AlreadyInstrumentedError, ConfigurationError, InstrumentError
from infersight.instrument._hooks import RequestHook
from infersight.instrument._state import Instrumentation

__all__ = [
    "AlreadyInstrumentedError",
    "ConfigurationError",
    "InstrumentError",
    "Instrumentation",
    "RequestHook",
    "Telemetry",
    "add_readiness_check",
    "configure",
    "instrument_app",
    "instrumentation_of",
    "uninstrument_app",
]
