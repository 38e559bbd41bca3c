"""infersight.analysis: name the root cause of latency/cost problems from a telemetry DuckDB.

``connect(source)`` opens a DuckDB file, a Parquet directory or a running collector read-only
and returns a :class:`Telemetry` with a small pandas API; ``diagnose(telemetry)`` runs every
detector and returns ranked :class:`Finding` objects.
"""

from infersight.analysis._critical_path import Segment, Span, critical_path
from infersight.analysis._diagnose import Diagnosis, diagnose
from infersight.analysis._errors import (
    AnalysisError,
    NoDataError,
    SchemaError,
    SchemaVersionError,
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
    "NoDataError",
    "SchemaError",
    "SchemaVersionError",
    "Segment",
    "SourceError",
    "Span",
    "Telemetry",
    "UsageError",
    "connect",
    "critical_path",
    "diagnose",
]
