"""Helpers for the ClickHouse tests: the committed sample runs, exported into chDB with the
exporter's DDL, and a value-by-value comparison of two query results."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
#: every committed sample run (a folder of otel_*.parquet): tests/data/runs/*, notebooks/data/*
SAMPLE_RUNS = sorted(p.parent for base in ("tests/data/runs", "notebooks/data")
                     for p in (ROOT / base).glob("*/otel_traces.parquet"))


def run_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def db_name(path: Path) -> str:
    return f"{path.parent.name}_{path.name}".replace("-", "_")


def _canon(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return None
        return float(f"{f:.6g}") if f != int(f) or abs(f) > 2**53 else int(f)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _canon(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_canon(x) for x in v)
    if v is pd.NA or v is pd.NaT:
        return None
    return str(v)


#: columns whose values differ by design: tkey is a 64-bit hash of the trace id (DuckDB's hash()
#: vs ClickHouse's cityHash64); only equality between rows of one engine matters
ENGINE_SPECIFIC = {"tkey"}


def rows(df: pd.DataFrame) -> Counter[tuple[Any, ...]]:
    cols = sorted(c for c in df.columns if c not in ENGINE_SPECIFIC)
    return Counter(tuple(_canon(v) for v in rec) for rec in df[cols].itertuples(index=False, name=None))


def _close(x: Any, y: Any) -> bool:
    """Equal, floats within a relative 1e-6 (sums and variances in another order of operations)."""
    if isinstance(x, float) or isinstance(y, float):
        return isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        return len(x) == len(y) and all(_close(p, q) for p, q in zip(x, y, strict=True))
    return bool(x == y)


def assert_same(duck: pd.DataFrame, ch: pd.DataFrame, what: str) -> None:
    if len(duck.columns) == len(ch.columns) and any("(" in str(c) for c in duck.columns):
        # an unaliased expression is named by each engine its own way (count_star() / COUNT()):
        # such columns are compared by position
        ch = ch.set_axis([d if "(" in str(d) else c for d, c in zip(duck.columns, ch.columns, strict=True)], axis=1)
    dc = {c for c in duck.columns if c not in ENGINE_SPECIFIC}
    cc = {c for c in ch.columns if c not in ENGINE_SPECIFIC}
    assert dc == cc, f"{what}: columns differ: only DuckDB {sorted(dc - cc)}, only ClickHouse {sorted(cc - dc)}"
    a, b = rows(duck), rows(ch)
    if a != b and not _close(sorted(a.elements(), key=repr), sorted(b.elements(), key=repr)):
        only_a, only_b = list((a - b).elements())[:3], list((b - a).elements())[:3]
        raise AssertionError(f"{what}: {len(duck)} DuckDB rows vs {len(ch)} ClickHouse rows; columns "
                             f"{sorted(dc)}\n only DuckDB: {only_a}\n only ClickHouse: {only_b}")
