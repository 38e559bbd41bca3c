"""ClickHouse as a telemetry store: the OTel Collector ClickHouse exporter's tables, read and written.

Two ways in, one interface (:class:`ClickHouse`):

* ``chdb:PATH`` - the ClickHouse engine in process (chDB), its data in the folder ``PATH``
  (``chdb:PATH?database=otel`` picks the database; default ``default``);
* ``clickhouse://user:password@host:8123/db`` (``clickhouses://`` for TLS) - a ClickHouse server
  over HTTP through ``clickhouse-connect``, in one session (temporary tables live there).

:func:`create_exporter_tables` applies ``clickhouse_exporter_ddl.sql`` (the exporter's own DDL,
written out as data); :func:`export_to_clickhouse` copies a DuckDB file or Parquet folder into those
tables (``infersight export --clickhouse``). Needs ``pip install 'infersight[clickhouse]'``.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from ._errors import StorageError

log = logging.getLogger(__name__)

#: the exporter's table per signal (the trace-id lookup table and its view come with otel_traces)
EXPORTER_TABLES = ("otel_traces", "otel_logs", "otel_metrics_gauge", "otel_metrics_sum",
                   "otel_metrics_histogram", "otel_metrics_exponential_histogram", "otel_metrics_summary")
_TTL_TIME = {"otel_traces": "toDateTime(Timestamp)", "otel_traces_trace_id_ts": "toDateTime(Start)",
             "otel_logs": "TimestampTime"}
_INSERT_BATCH_ROWS = 500_000


def is_clickhouse_url(source: str) -> bool:
    return source.startswith(("chdb:", "clickhouse://", "clickhouses://"))


@dataclass(frozen=True)
class Target:
    kind: str  # "chdb" | "http"
    database: str
    path: str = ""
    host: str = ""
    port: int = 8123
    user: str = "default"
    password: str = ""
    secure: bool = False

    def describe(self) -> str:
        if self.kind == "chdb":
            return f"chdb:{self.path} (database {self.database})"
        return f"{'https' if self.secure else 'http'}://{self.user}@{self.host}:{self.port}/{self.database}"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_url(source: str) -> Target:
    """``chdb:PATH[?database=DB]`` or ``clickhouse[s]://user[:password]@host[:port][/db]``."""
    if source.startswith("chdb:"):
        rest = source[len("chdb:"):]
        path, _, query = rest.partition("?")
        db = parse_qs(query).get("database", ["default"])[0]
        if not path:
            raise StorageError("chdb: needs a folder, e.g. chdb:/var/lib/infersight/ch")
        target = Target(kind="chdb", database=db, path=str(Path(path).expanduser()))
    else:
        u = urlparse(source)
        if u.scheme not in ("clickhouse", "clickhouses") or not u.hostname:
            raise StorageError(f"not a ClickHouse URL: {source!r} (clickhouse://user@host:8123/db)")
        secure = u.scheme == "clickhouses"
        db = u.path.strip("/") or "default"
        target = Target(kind="http", database=db, host=u.hostname, port=u.port or (8443 if secure else 8123),
                        user=unquote(u.username or "default"), password=unquote(u.password or ""),
                        secure=secure)
    if not _IDENT.match(target.database):
        raise StorageError(f"database name {target.database!r} is not a plain identifier")
    return target


def _format_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Values as ClickHouse's server-side binding parses them (the text clickhouse-connect sends)."""
    from clickhouse_connect.driver.binding import format_bind_value

    return {k: format_bind_value(v) for k, v in params.items()}


class ClickHouse:
    """One session on a ClickHouse engine (chDB in process, or a server over HTTP).

    ``settings`` apply to every statement of the session.
    """

    def __init__(self, source: str, *, settings: Mapping[str, Any] | None = None) -> None:
        self.target = parse_url(source)
        self.database = self.target.database
        self.settings = dict(settings or {})
        self._client: Any = None
        self._session: Any = None
        try:
            if self.target.kind == "chdb":
                self._open_chdb()
            else:
                self._open_http()
        except ImportError as exc:
            raise StorageError(f"{exc.name or 'a module'} is missing: pip install 'infersight[clickhouse]'") from None

    # -- opening -----------------------------------------------------------------------------
    def _open_chdb(self) -> None:
        from chdb import session as chs

        Path(self.target.path).mkdir(parents=True, exist_ok=True)
        try:
            self._session = chs.Session(self.target.path)
        except Exception as exc:
            raise StorageError(f"cannot open chdb:{self.target.path}: {_first_line(exc)}") from None
        if self.settings:
            self._session.query("SET " + ", ".join(f"{k} = {_setting(v)}" for k, v in self.settings.items()))
        self._session.query(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        self._session.query(f"USE `{self.database}`")

    def _open_http(self) -> None:
        import clickhouse_connect

        t = self.target
        try:
            self._client = clickhouse_connect.get_client(
                host=t.host, port=t.port, username=t.user, password=t.password, database=t.database,
                secure=t.secure, settings=self.settings, session_id=f"infersight-{uuid.uuid4()}",
                connect_timeout=10, send_receive_timeout=600)
        except Exception as exc:
            raise StorageError(f"cannot reach ClickHouse at {t.describe()}: {_first_line(exc)}") from None

    # -- statements --------------------------------------------------------------------------
    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run one SELECT and return its result as an Arrow table."""
        try:
            if self._session is not None:
                result = self._session.query(sql, "ArrowTable", params=_format_params(params or {}))
                return result if isinstance(result, pa.Table) else pa.table({})
            return self._client.query_arrow(sql, parameters=dict(params or {}), use_strings=True)
        except Exception as exc:
            raise StorageError(f"ClickHouse: {_first_line(exc)}") from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement that returns nothing (DDL, INSERT ... SELECT)."""
        try:
            if self._session is not None:
                self._session.query(sql, "CSV", params=_format_params(params or {}))
            else:
                self._client.command(sql, parameters=dict(params or {}))
        except Exception as exc:
            raise StorageError(f"ClickHouse: {_first_line(exc)}") from exc

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        tbl = self.query_arrow(sql, params)
        cols = [c.to_pylist() for c in tbl.columns]
        return list(zip(*cols, strict=True)) if cols else []

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Append ``data`` to ``table`` (columns matched by name; the table's defaults fill the rest)."""
        if data.num_rows == 0:
            return
        cols = ", ".join(f"`{c}`" for c in data.column_names)
        if self._session is not None:
            with tempfile.TemporaryDirectory(prefix="infersight-ch-") as tmp:
                f = Path(tmp) / "batch.parquet"
                pq.write_table(data, f)
                self.command(f"INSERT INTO `{self.database}`.`{table}` ({cols}) "
                             f"SELECT {cols} FROM file('{_sql_str(str(f))}', 'Parquet')")
            return
        try:
            self._client.insert_arrow(table, data, database=self.database)
        except Exception as exc:
            raise StorageError(f"ClickHouse insert into {table}: {_first_line(exc)}") from exc

    def tables(self) -> set[str]:
        """Tables and views of the database, plus this session's temporary tables."""
        rows = self.rows("SELECT name FROM system.tables WHERE database = {db:String} OR is_temporary",
                         {"db": self.database})
        return {str(r[0]) for r in rows}

    def columns(self, table: str) -> dict[str, str]:
        rows = self.rows("SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
                         {"db": self.database, "t": table})
        return {str(n): str(t) for n, t in rows}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> ClickHouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sql_str(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _setting(value: Any) -> str:
    return str(int(value)) if isinstance(value, bool) else (str(value) if isinstance(value, (int, float))
                                                            else "'" + _sql_str(str(value)) + "'")


# -- the exporter's DDL ---------------------------------------------------------------------------
def exporter_ddl() -> str:
    """The exporter's DDL text with its template fields (``__DB__``, ``__ENGINE__``, ``__TTL__``)."""
    return resources.files("infersight.collectors").joinpath("clickhouse_exporter_ddl.sql").read_text(encoding="utf-8")


def exporter_statements(database: str, *, engine: str = "MergeTree()", ttl_days: int = 0) -> list[str]:
    """The exporter's CREATE statements for ``database``, in order, template fields filled."""
    if not _IDENT.match(database):
        raise StorageError(f"database name {database!r} is not a plain identifier")
    text = "\n".join(line for line in exporter_ddl().splitlines() if not line.startswith("--"))
    out = []
    for stmt in (s.strip() for s in re.split(r"^;$", text, flags=re.M)):
        if not stmt:
            continue
        m = re.search(r"EXISTS __DB__\.(\w+)", stmt)
        table = m.group(1) if m else ""
        ttl = ""
        if ttl_days > 0:
            ttl = f"TTL {_TTL_TIME.get(table, 'toDateTime(TimeUnix)')} + toIntervalDay({int(ttl_days)})"
        out.append(stmt.replace("__DB__", f"`{database}`").replace("__ENGINE__", engine).replace("__TTL__", ttl))
    return out


def exporter_columns(table: str) -> str:
    """The column list of one exporter table (no codecs, indexes or ALIAS columns), for an
    empty in-memory stand-in when a source lacks that table."""
    for stmt in exporter_statements("default"):
        if re.search(rf"EXISTS `default`\.{table} \(", stmt):
            body = stmt[stmt.index("(") + 1: stmt.rindex(") ENGINE")]
            body = re.sub(r"\s*CODEC\((?:[^()]|\([^()]*\))*\)", "", body)
            lines = [ln.rstrip().rstrip(",") for ln in body.splitlines()
                     if ln.strip() and not ln.strip().startswith("INDEX") and " ALIAS " not in ln]
            text = ",\n".join(lines)
            return re.sub(r"\(,\n", "(\n", text).replace(",\n    )", "\n    )").replace(",\n)", "\n)")
    raise StorageError(f"the exporter DDL has no table {table}")


def create_exporter_tables(ch: ClickHouse, *, ttl_days: int = 0) -> None:
    """Create the exporter's tables in ``ch``'s database (``IF NOT EXISTS``: existing ones are kept)."""
    for stmt in exporter_statements(ch.database, ttl_days=ttl_days):
        ch.command(stmt)


# -- copying a DuckDB file / Parquet folder in ------------------------------------------------------
def _batches(source: str, table: str, columns: list[str]) -> Iterator[pa.Table]:
    from .reader import open_readonly

    con = open_readonly(source)
    try:
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()}
        if not have:  # a Parquet folder's views
            try:
                empty: pa.Table = con.sql(f'SELECT * FROM "{table}" LIMIT 0').to_arrow_table()
                have = set(empty.schema.names)
            except Exception:
                return
        keep = [c for c in columns if c in have]
        if not keep:
            return
        sel = ", ".join(f'"{c}"' for c in keep)
        reader: pa.RecordBatchReader = con.sql(f'SELECT {sel} FROM "{table}"').to_arrow_reader(_INSERT_BATCH_ROWS)
        for batch in reader:
            yield pa.Table.from_batches([batch])
    finally:
        con.close()


def _source_tables(source: str) -> set[str]:
    from .reader import open_readonly

    con = open_readonly(source)
    try:
        return {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()}
    finally:
        con.close()


def export_to_clickhouse(source: str, url: str, *, ttl_days: int = 0,
                         progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every ``otel_*`` table of a DuckDB file / Parquet folder into the exporter's tables at
    ``url`` (created first with the exporter's DDL); return rows copied per table."""
    present = _source_tables(source)
    counts: dict[str, int] = {}
    with ClickHouse(url) as ch:
        create_exporter_tables(ch, ttl_days=ttl_days)
        for table in EXPORTER_TABLES:
            if table not in present:
                continue
            target_cols = [c for c, t in ch.columns(table).items()]
            n = 0
            for batch in _batches(source, table, target_cols):
                ch.insert_arrow(table, _fill_nulls(batch))
                n += batch.num_rows
                if progress is not None:
                    progress(table, n)
            counts[table] = n
    return counts


def _fill_nulls(batch: pa.Table) -> pa.Table:
    """The exporter's columns are not Nullable: NULL becomes the type's default (as it writes)."""
    import pyarrow.compute as pc

    cols = []
    for col in batch.columns:
        if col.null_count and (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            col = pc.fill_null(col, 0)
        elif col.null_count and pa.types.is_string(col.type):
            col = pc.fill_null(col, "")
        cols.append(col)
    return pa.table(cols, names=batch.column_names)


__all__ = ["EXPORTER_TABLES", "ClickHouse", "Target", "create_exporter_tables", "export_to_clickhouse",
           "exporter_ddl", "exporter_statements", "is_clickhouse_url", "parse_url"]
