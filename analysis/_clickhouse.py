"""The analysis on ClickHouse: ``connect("chdb:PATH")`` / ``connect("clickhouse://user@host:8123/db")``.

:class:`ClickHouseEngine` implements ``_engine.Engine`` over one ClickHouse session
(``infersight.collectors.clickhouse.ClickHouse``): DuckDB-dialect SQL is rendered by
``_dialect.to_clickhouse``; temp views are kept as macros (expanded into the queries that read
them); ``CREATE OR REPLACE TEMP TABLE`` becomes a session-scoped ``TEMPORARY TABLE ... ENGINE =
Memory`` (with a ``rowid`` column, numbered in the statement's ORDER BY, where DuckDB would have
one); results come back as Arrow and are normalised to the types DuckDB gives (no dictionary
strings, no unsigned integers, maps as dicts).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from infersight.analysis._dialect import CLICKHOUSE_SETTINGS, bind, param_hints, placeholders, to_clickhouse
from infersight.analysis._errors import SourceError
from sqlglot import exp

log = logging.getLogger(__name__)


_NULLABLE = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
             pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _normalise(tbl: pa.Table) -> pa.Table:
    cols = []
    for col in tbl.columns:
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_unsigned_integer(t):
            col = pc.cast(col, pa.int64(), safe=False)  # tkey (cityHash64) wraps, as it must stay unique
        elif pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            col = pc.cast(col, pa.string())
        cols.append(col)
    return pa.table(cols, names=tbl.column_names)


class ClickHouseEngine:
    """``_engine.Engine`` over a ClickHouse session (chDB in process, or HTTP)."""

    dialect = "clickhouse"

    def __init__(self, source: str) -> None:
        from infersight.collectors.clickhouse import ClickHouse

        try:
            self.ch = ClickHouse(source, settings=CLICKHOUSE_SETTINGS)
        except Exception as exc:  # StorageError and friends: one line, ours
            raise SourceError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
        self.source = source
        self.views: dict[str, str] = {}
        self.rowid_tables: set[str] = set()

    # -- rendering ---------------------------------------------------------------------------
    def render(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """The ClickHouse text of a DuckDB-dialect statement and the parameters it uses."""
        text = to_clickhouse(sql, views=self.views, rowid_tables=frozenset(self.rowid_tables))
        names = placeholders(text)
        given = {k: v for k, v in (params or {}).items() if k in names}
        return bind(text, given, param_hints(sql)), given

    # -- Engine ------------------------------------------------------------------------------
    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        text, used = self.render(sql, params)
        t = time.perf_counter()
        out = _normalise(self.ch.query_arrow(text, used))
        log.debug("clickhouse %.3f s, %d rows: %s", time.perf_counter() - t, out.num_rows, _head(sql))
        return out

    def df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        tbl = self.arrow(sql, params)
        df = tbl.to_pandas(maps_as_pydicts="lossy")
        for name, col in zip(tbl.column_names, tbl.columns, strict=True):
            # as DuckDB's .df(): integers and booleans with NULLs become pandas' nullable dtypes
            if col.null_count and (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
                df[name] = col.to_pandas(types_mapper=_NULLABLE.get)
        return df

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        tbl = self.arrow(sql, params)
        cols = [c.to_pylist() for c in tbl.columns]
        return list(zip(*cols, strict=True)) if cols else []

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        tree = sqlglot.parse_one(sql, read="duckdb")
        if isinstance(tree, exp.Create) and tree.kind == "VIEW":
            self.views[tree.this.name] = tree.expression.sql(dialect="duckdb")
            return
        if isinstance(tree, exp.Create) and tree.kind == "TABLE" and isinstance(tree.expression, exp.Query):
            name = tree.this.name
            body = tree.expression
            if isinstance(body, exp.Select) and body.args.get("order"):
                keys = [o.copy() for o in body.args["order"].expressions]
                win = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=keys))
                body.select(exp.alias_(exp.Sub(this=win, expression=exp.Literal.number(1)), "rowid"), copy=False)
                self.rowid_tables.add(name)
            text, used = self.render(body.sql(dialect="duckdb"), params)
            self.views.pop(name, None)
            t = time.perf_counter()
            self.ch.command(f"CREATE OR REPLACE TEMPORARY TABLE `{name}` ENGINE = Memory AS {text}", used)
            log.debug("clickhouse %.3f s: temp table %s", time.perf_counter() - t, name)
            return
        text, used = self.render(sql, params)
        self.ch.command(text, used)

    def create_empty(self, table: str) -> None:
        """An empty session table shaped like the exporter's ``table`` (a traces-only source)."""
        from infersight.collectors.clickhouse import exporter_columns

        self.ch.command(f"CREATE TEMPORARY TABLE IF NOT EXISTS `{table}` ({exporter_columns(table)}) ENGINE = Memory")

    def tables(self) -> set[str]:
        return self.ch.tables() | set(self.views)

    def columns(self, table: str) -> set[str]:
        return set(self.ch.columns(table))

    def close(self) -> None:
        self.ch.close()


def _head(sql: str) -> str:
    """The statement's name: the first comment line of a .sql file, else its first line."""
    line = sql.strip().splitlines()[0] if sql.strip() else ""
    return line[:100]


def is_clickhouse_source(source: str) -> bool:
    return bool(re.match(r"^(chdb:|clickhouses?://)", source))


__all__ = ["ClickHouseEngine", "is_clickhouse_source"]
