"""Loading the ``.sql`` files that hold every query (staging -> features -> detectors).

SQL never has values formatted into it: callers pass ``$name`` parameters to :func:`run`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import pyarrow as pa
from infersight.analysis._engine import Engine

_LAYERS = ("staging", "features", "detectors")


@cache
def load(name: str) -> str:
    """The text of ``sql/<layer>/<file>.sql``; ``name`` is ``"layer/file"``."""
    layer, _, stem = name.partition("/")
    if layer not in _LAYERS or not stem or "/" in stem or "." in stem:
        raise ValueError(f"unknown SQL file {name!r}")
    ref = resources.files("infersight.analysis").joinpath("sql", layer, f"{stem}.sql")
    return ref.read_text(encoding="utf-8")


def names(layer: str) -> list[str]:
    """Every ``layer/file`` name in one layer, sorted (the files' order is the build order)."""
    folder = resources.files("infersight.analysis").joinpath("sql", layer)
    return sorted(f"{layer}/{p.name[:-4]}" for p in folder.iterdir() if p.name.endswith(".sql"))


def _used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    # DuckDB rejects unused named parameters; pass only those the statement mentions.
    return {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)}


# Every function takes an ``_engine.Engine`` (``Telemetry.con``): a DuckDB connection or a
# ClickHouse session; SQL is DuckDB-dialect text, rendered for the engine it runs on.


def run(con: Engine, name: str, **params: Any) -> pd.DataFrame:
    """Run one SQL file with bound ``$params`` and return a DataFrame."""
    sql = load(name)
    return con.df(sql, _used_params(sql, params))


def arrow(con: Engine, name: str, **params: Any) -> pa.Table:
    """Run one SQL file with bound ``$params`` and return an Arrow table (large results)."""
    sql = load(name)
    return con.arrow(sql, _used_params(sql, params))


def rows(con: Engine, name: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one SQL file with bound ``$params`` and return its rows as tuples."""
    sql = load(name)
    return con.rows(sql, _used_params(sql, params))


def query(con: Engine, sql: str, **params: Any) -> pd.DataFrame:
    """An inline (DuckDB-dialect) query as a DataFrame, e.g. ``SELECT tkey, idx FROM f_sample``."""
    return con.df(sql, _used_params(sql, params))


def table(con: Engine, name: str, order_by: str | None = None) -> pd.DataFrame:
    """A whole feature table (``f_requests``) as a DataFrame, optionally ordered by one column."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or (order_by and not re.fullmatch(r"[a-z_][a-z0-9_]*", order_by)):
        raise ValueError(f"not a table/column name: {name!r} {order_by!r}")
    return con.df(f"SELECT * FROM {name}" + (f" ORDER BY {order_by}" if order_by else ""))


def first_row(con: Engine, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    """The first row of an inline query, fully fetched."""
    found = con.rows(sql, params)
    return tuple(found[0]) if found else None


def execute(con: Engine, name: str, **params: Any) -> None:
    """Run one SQL file (DDL such as ``CREATE TEMP TABLE``) with bound ``$params``."""
    sql = load(name)
    con.run(sql, _used_params(sql, params))
