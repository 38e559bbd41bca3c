"""The one exception tree of :mod:`infersight.analysis`.

Everything the analysis raises on bad input derives from :class:`AnalysisError`; the CLI maps
each class to a one-line message and an exit code (:attr:`AnalysisError.exit_code`).
"""

from __future__ import annotations


class AnalysisError(Exception):
    """Base class; ``exit_code`` is what ``infersight diagnose`` exits with."""

    exit_code = 1


class SourceError(AnalysisError):
    """The telemetry source cannot be opened (missing file, not DuckDB, unreachable URL)."""

    exit_code = 2


class SchemaError(AnalysisError):
    """The source is not an infersight/ClickHouse-exporter telemetry database."""

    exit_code = 2


class SchemaVersionError(SchemaError):
    """The database was written by a newer infersight schema than this analysis understands."""


class NoDataError(AnalysisError):
    """The source (or the selected time range/route) holds no spans to analyse."""

    exit_code = 1


class UsageError(AnalysisError):
    """A bad argument (unparseable ``--since``, unknown quantile, ...)."""

    exit_code = 2


__all__ = [
    "AnalysisError",
    "NoDataError",
    "SchemaError",
    "SchemaVersionError",
    "SourceError",
    "UsageError",
]
