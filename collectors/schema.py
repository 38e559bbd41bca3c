"""The telemetry schema, as code: its version, its tables and their DDL.

``collectors/schema.sql`` is the one definition of the newest schema; this module is the public
handle on it for every other part (the analysis builds empty tables for a traces-only source from
:func:`table_ddl` and refuses databases newer than :data:`SCHEMA_VERSION`). The tables follow the
OpenTelemetry Collector contrib ClickHouse exporter's (docs/schema.md). ``_schema.py`` applies the
file and its migrations to a database.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from ._errors import SchemaVersionError

#: the version ``schema.sql`` describes; a database with a newer ``infersight_schema.version`` is refused
SCHEMA_VERSION = 1
VERSION_TABLE = "infersight_schema"
TRACE_TABLE = "otel_traces"
LOG_TABLE = "otel_logs"
METRIC_TABLES: tuple[str, ...] = ("otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram",
                                  "otel_metrics_exponential_histogram", "otel_metrics_summary")
#: every data table, in the order they are created, exported and retained
TABLES: tuple[str, ...] = (TRACE_TABLE, LOG_TABLE, *METRIC_TABLES)
#: columns of ``otel_traces`` without which a database is not telemetry at all
REQUIRED_TRACE_COLUMNS = frozenset({"Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "Duration"})

_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", re.S)


def schema_sql() -> str:
    """The text of ``schema.sql`` (DuckDB dialect; comments included)."""
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _columns_sql() -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _CREATE.finditer(schema_sql())}


def table_ddl(table: str, *, temp: bool = False) -> str:
    """``CREATE [TEMP] TABLE <table> (...)`` as ``schema.sql`` defines it (DuckDB dialect).

    Raises ``KeyError`` for a table the schema does not define.
    """
    columns = _columns_sql()[table]
    return f"CREATE {'TEMP ' if temp else ''}TABLE {table} ({columns}\n)"


__all__ = ["LOG_TABLE", "METRIC_TABLES", "REQUIRED_TRACE_COLUMNS", "SCHEMA_VERSION", "TABLES", "TRACE_TABLE",
           "VERSION_TABLE", "SchemaVersionError", "schema_sql", "table_ddl"]
