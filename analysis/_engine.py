"""The few database operations the analysis uses, behind one interface (``Telemetry.con``).

Every statement handed to an engine is DuckDB-dialect SQL (the ``.sql`` files, or a short inline
query); each engine runs it its own way: :class:`DuckDBEngine` as is, ``ClickHouseEngine``
(``_clickhouse.py``) rendered by ``_dialect.to_clickhouse``. Analysis code calls only these
methods (through ``_sql``), never a DuckDB connection's own API:

* ``df(sql, params)`` -> DataFrame, ``arrow(sql, params)`` -> Arrow table, ``rows(sql, params)``
  -> list of tuples: one query, values bound as ``$name`` parameters
* ``run(sql, params)``: a statement without a result (``CREATE OR REPLACE TEMP TABLE/VIEW``)
* ``tables()``, ``columns(table)``: what the source holds; ``close()``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa


class Engine(Protocol):
    """What the analysis needs from a database (see the module docstring)."""

    dialect: str

    def df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame: ...

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def tables(self) -> set[str]: ...

    def columns(self, table: str) -> set[str]: ...

    def close(self) -> None: ...


class DuckDBEngine:
    """A DuckDB connection (file, Parquet views or a collector's snapshot), today's behaviour.

    Attributes it does not define are the connection's own (``tel.con.execute(...)`` in notebooks
    and tests keeps working on DuckDB sources); analysis code uses only the :class:`Engine` methods.
    """

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.raw = con

    def _exec(self, sql: str, params: Mapping[str, Any] | None) -> duckdb.DuckDBPyConnection:
        return self.raw.execute(sql, dict(params)) if params else self.raw.execute(sql)

    def df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return self._exec(sql, params).df()

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        # a relation, not a DB-API result: DuckDB builds the Arrow table without an extra copy
        tbl: pa.Table = self.raw.sql(sql, params=dict(params) if params else None).to_arrow_table()
        return tbl

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._exec(sql, params).fetchall()]

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._exec(sql, params)

    def tables(self) -> set[str]:
        return {r[0] for r in self.raw.execute(
            "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()}

    def columns(self, table: str) -> set[str]:
        return {r[0] for r in self.raw.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()}

    def close(self) -> None:
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


__all__ = ["DuckDBEngine", "Engine"]
