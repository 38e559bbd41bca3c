"""Opening a telemetry source read-only and building the staging views over it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
from infersight.analysis import _sql
from infersight.analysis._engine import DuckDBEngine, Engine
from infersight.analysis._errors import NewerSchemaError, SchemaError, SourceError
from infersight.analysis._timeparse import parse_instant_ns
from infersight.collectors import schema
from infersight.collectors.reader import collector_url, live_newest_ns, open_readonly
from infersight.collectors.schema import SchemaVersionError as CollectorSchemaVersionError

log = logging.getLogger(__name__)

#: newest ``infersight_schema.version`` this analysis understands: the collectors' current one
SUPPORTED_SCHEMA_VERSION = schema.SCHEMA_VERSION
#: tables a source may lack (traces-only sources): the analysis reads them as empty
_METRIC_TABLES = ("otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram", "otel_logs")


def _open_with_reader(source: str, *, token: str | None = None,
                      since: str | None = None) -> duckdb.DuckDBPyConnection:
    if since:
        parse_instant_ns(since, latest_ns=0)  # a bad --since is a usage error before anything is read
    try:
        return open_readonly(source, token=token, since_ns=_live_since_ns(source, since, token))
    except CollectorSchemaVersionError as exc:
        raise NewerSchemaError(f"{_first_line(exc)}: upgrade infersight") from exc
    except Exception as exc:  # the reader's own errors: map to ours, one line
        raise SourceError(_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


#: data older than ``since`` that the features still read (jobs and parents that began earlier)
LIVE_LOOKBACK_NS = 30 * 60 * 10**9


def _live_since_ns(source: str, since: str | None, token: str | None) -> int | None:
    """For a running collector and a ``--since``: the lower time bound to ask it for, so it sends
    only recent rows instead of whole tables. The analysis still applies ``since`` itself; the
    bound is the window's length earlier again (the baseline the incident gate compares with) plus
    ``LIVE_LOOKBACK_NS`` (jobs and parents that began earlier), and there is no upper bound, so
    "newest span" means the same thing in both places."""
    if not since:
        return None
    url = collector_url(source)
    if url is None:
        return None
    newest = live_newest_ns(url, token=token)
    if newest is None:
        return None
    since_ns = parse_instant_ns(since, latest_ns=newest)
    return max(0, since_ns - max(0, newest - since_ns) - LIVE_LOOKBACK_NS)


def open_source(source: str | Path, *, token: str | None = None, since: str | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection for a DB file, a Parquet directory or a collector URL.

    ``token``: a running collector's bearer token (default ``$INFERSIGHT_TOKEN``); ``since``: the
    ``--since`` the analysis will apply (a running collector then sends only recent rows).
    """
    return _open_with_reader(str(source), token=token, since=since)


def _tables(con: Engine) -> set[str]:
    return con.tables()


def check_schema(con: Engine, source: str) -> int:
    """Raise a clear error for a foreign or newer database; return its schema version."""
    tables = _tables(con)
    if "otel_traces" not in tables:
        raise SchemaError(f"{source} is not an infersight telemetry database (no otel_traces table)")
    version = SUPPORTED_SCHEMA_VERSION
    if schema.VERSION_TABLE in tables:
        row = _sql.first_row(con, f"SELECT max(version) FROM {schema.VERSION_TABLE}")
        if row and row[0] is not None:
            version = int(row[0])
    if version > SUPPORTED_SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{source} has schema version {version}, newer than this analysis understands "
            f"({SUPPORTED_SCHEMA_VERSION}): upgrade infersight"
        )
    cols = con.columns("otel_traces")
    missing = schema.REQUIRED_TRACE_COLUMNS - cols
    if missing and cols:
        raise SchemaError(f"{source}: otel_traces lacks columns {sorted(missing)}")
    return version


def _create_empty(con: Engine, table: str) -> None:
    if con.dialect == "duckdb":
        con.run(schema.table_ddl(table, temp=True))
    else:  # ClickHouse: shaped like the exporter's table
        con.create_empty(table)  # type: ignore[attr-defined]


def build_staging(con: Engine) -> None:
    """Create the ``stg_*`` views; missing metric and log tables become empty ones (traces-only sources)."""
    tables = _tables(con)
    for table in _METRIC_TABLES:
        if table not in tables:
            _create_empty(con, table)
    for name in _sql.names("staging"):
        _sql.execute(con, name)


def open_engine(source: str | Path, *, token: str | None = None, since: str | None = None) -> Engine:
    """An :class:`~infersight.analysis._engine.Engine` for any source: ``chdb:PATH`` and
    ``clickhouse://user@host:8123/db`` open ClickHouse, anything else DuckDB (:func:`open_source`)."""
    text = str(source)
    if re.match(r"^(chdb:|clickhouses?://)", text):
        try:
            from infersight.analysis._clickhouse import ClickHouseEngine
        except ImportError as exc:
            raise SourceError(f"reading {text.split(':')[0]} needs {exc.name}: "
                              "pip install 'infersight[clickhouse]'") from None
        return ClickHouseEngine(text)
    return DuckDBEngine(open_source(source, token=token, since=since))


def open_checked(source: str | Path, *, token: str | None = None,
                 since: str | None = None) -> tuple[Engine, int]:
    con = open_engine(source, token=token, since=since)
    try:
        version = check_schema(con, str(source))
        build_staging(con)
    except BaseException:
        con.close()
        raise
    return con, version


