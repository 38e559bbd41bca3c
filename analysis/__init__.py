"""infersight.analysis: name the root cause of latency/cost problems from a telemetry DuckDB.

``connect(source)`` opens a DuckDB file, a Parquet directory or a running collector read-only
and returns a :class:`Telemetry` with a small pandas API; ``diagnose(telemetry)`` runs every
detector and returns ranked :class:`Finding` objects.
"""

from __future__ import annotations

import warnings
from typing import Any

from infersight.analysis._critical_path import Segment, Span, critical_path
from infersight.analysis._diagnose import Diagnosis, diagnose
from infersight.analysis._errors import (
    AnalysisError,
    NewerSchemaError,
    NoDataError,
    SchemaError,
    SourceError,
    UsageError,
)
from infersight.analysis._finding import CATEGORIES, Evidence, Finding, Impact, RootCause, Symptom
from infersight.analysis._telemetry import Telemetry, connect

__all__ = [
    "CATEGORIES",
    "AnalysisError",
    "Diagnosis",
    "Evidence",
    "Finding",
    "Impact",
    "RootCause",
    "Symptom",
    "NewerSchemaError",
    "NoDataError",
    "SchemaError",
    "Segment",
    "SourceError",
    "Span",
    "Telemetry",
    "UsageError",
    "connect",
    "critical_path",
    "diagnose",
]


def __getattr__(name: str) -> Any:
    if name == "SchemaVersionError":  # renamed: one class of that name (the collectors') is enough
        warnings.warn("infersight.analysis.SchemaVersionError is now NewerSchemaError",
                      DeprecationWarning, stacklevel=2)
        return NewerSchemaError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
