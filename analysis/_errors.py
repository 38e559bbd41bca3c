"""The one exception tree of :mod:`infersight.analysis`.

Everything the analysis raises on bad input derives from :class:`AnalysisError` (itself an
:class:`infersight.InfersightError`); the CLI maps each class to a one-line message and an exit
code (:attr:`AnalysisError.exit_code`, the map of :mod:`infersight._errors`).
"""

from __future__ import annotations

from infersight._errors import BadArgumentError, InfersightError


class AnalysisError(InfersightError):
    """Base class; ``exit_code`` is what ``infersight diagnose`` exits with."""

    exit_code = 1


class SourceError(AnalysisError):
    """The telemetry source cannot be opened (missing file, not DuckDB, unreachable URL)."""

    exit_code = 2


class SchemaError(AnalysisError):
    """The source is not an infersight/ClickHouse-exporter telemetry database."""

    exit_code = 2


class NewerSchemaError(SchemaError):
    """The database was written by a newer infersight schema than this analysis understands
    (the collectors' ``SchemaVersionError``, seen from the analysis)."""


class NoDataError(AnalysisError):
    """The source (or the selected time range/route) holds no spans to analyse."""

    exit_code = 1


class UsageError(AnalysisError, BadArgumentError):
    """A bad argument (unparseable ``--since``, unknown quantile, ...): the analysis' one
    bad-argument class (a ``ValueError``)."""

    exit_code = 2


__all__ = [
    "AnalysisError",
    "NoDataError",
    "NewerSchemaError",
    "SchemaError",
    "SourceError",
    "UsageError",
]
