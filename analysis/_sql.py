"""Loading the ``.sql`` files that hold every query (staging -> features -> detectors).

SQL never has values formatted into it: callers pass ``$name`` parameters to :func:`run`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import pandas as pd

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


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pd.DataFrame:
    """Run one SQL file with bound ``$params`` and return a DataFrame."""
    sql = load(name)
    return con.execute(sql, _used_params(sql, params)).df()


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    """The first row of an inline query, fully fetched (DuckDB 2 refuses new work on a
    connection with an unfinished result)."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return tuple(rows[0]) if rows else None


def execute(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> None:
    """Run one SQL file (DDL such as ``CREATE TEMP TABLE``) with bound ``$params``."""
    sql = load(name)
    con.execute(sql, _used_params(sql, params))
