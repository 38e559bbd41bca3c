"""Opening a telemetry source read-only and building the staging views over it."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import duckdb
from infersight.analysis import _sql
from infersight.analysis._engine import DuckDBEngine, Engine
from infersight.analysis._errors import SchemaError, SchemaVersionError, SourceError
from infersight.analysis._timeparse import parse_instant_ns

log = logging.getLogger(__name__)

#: newest ``infersight_schema.version`` this analysis understands
SUPPORTED_SCHEMA_VERSION = 1
#: tables a source may lack (traces-only sources): the analysis reads them as empty
_METRIC_TABLES = ("otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram", "otel_logs")


def _open_with_reader(source: str, *, token: str | None = None,
                      since: str | None = None) -> duckdb.DuckDBPyConnection | None:
    try:
        from infersight.collectors.reader import open_readonly
    except ImportError:  # collectors without a reader (older build): use our own fallback
        return None
    if since:
        parse_instant_ns(since, latest_ns=0)  # a bad --since is a usage error before anything is read
    try:
        con: duckdb.DuckDBPyConnection = open_readonly(source, token=token,
                                                       since_ns=_live_since_ns(source, since, token))
    except Exception as exc:  # the reader's own errors: map to ours, one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if type(exc).__name__ == "SchemaVersionError":
            raise SchemaVersionError(f"{msg}: upgrade infersight") from exc
        raise SourceError(msg) from exc
    return con


def _open_fallback(source: str) -> duckdb.DuckDBPyConnection:
    if source.startswith(("http://", "https://")):
        raise SourceError(f"cannot open {source!r}: reading a running collector needs "
                          "infersight.collectors.reader")
    path = Path(source)
    if not path.exists():
        raise SourceError(f"no such file or directory: {source}")
    if path.is_dir():
        files = sorted(path.glob("otel_*.parquet")) + sorted(path.glob("otel_*/**/*.parquet"))
        if not files:
            raise SchemaError(f"{source} holds no otel_*.parquet files")
        con = duckdb.connect()
        tables: dict[str, list[str]] = {}
        for f in files:
            rel = f.relative_to(path).parts[0]
            table = re.sub(r"(\.parquet)$", "", rel).split("-")[0]
            tables.setdefault(table, []).append(str(f))
        for table, paths in tables.items():
            if re.fullmatch(r"otel_[a-z_]+", table):
                con.read_parquet(paths, union_by_name=True).create_view(table)
        return con
    if path.stat().st_size == 0:
        raise SourceError(f"{source} is an empty file, not a DuckDB database")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"cannot open {source} as DuckDB: {first}") from exc


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
    from infersight.collectors.reader import collector_url, live_newest_ns

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
    text = str(source)
    con = _open_with_reader(text, token=token, since=since)
    return con if con is not None else _open_fallback(text)


def _tables(con: Engine) -> set[str]:
    return con.tables()


def _schema_ddl(table: str) -> str:
    text = resources.files("infersight.collectors").joinpath("schema.sql").read_text(encoding="utf-8")
    m = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\n\);", text, re.S)
    if m is None:  # pragma: no cover - schema.sql always defines the metric tables
        raise SchemaError(f"collectors/schema.sql does not define {table}")
    return f"CREATE TEMP TABLE {table} ({m.group(1)}\n)"


def check_schema(con: Engine, source: str) -> int:
    """Raise a clear error for a foreign or newer database; return its schema version."""
    tables = _tables(con)
    if "otel_traces" not in tables:
        raise SchemaError(f"{source} is not an infersight telemetry database (no otel_traces table)")
    version = SUPPORTED_SCHEMA_VERSION
    if "infersight_schema" in tables:
        row = _sql.first_row(con, "SELECT max(version) FROM infersight_schema")
        if row and row[0] is not None:
            version = int(row[0])
    if version > SUPPORTED_SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{source} has schema version {version}, newer than this analysis understands "
            f"({SUPPORTED_SCHEMA_VERSION}): upgrade infersight"
        )
    cols = con.columns("otel_traces")
    missing = {"Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "Duration"} - cols
    if missing and cols:
        raise SchemaError(f"{source}: otel_traces lacks columns {sorted(missing)}")
    return version


def _create_empty(con: Engine, table: str) -> None:
    if con.dialect == "duckdb":
        con.run(_schema_ddl(table))
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
        from infersight.analysis._clickhouse import ClickHouseEngine

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


