"""Every .sql file of the analysis, run on DuckDB and on the real ClickHouse engine (chDB), gives
the same rows.

The files are found on disk (analysis/sql/<layer>/*.sql), so a file added later is covered without
editing this test. Each runs over committed sample runs: the Parquet folder as DuckDB reads it, and
the same data copied into the OTel Collector ClickHouse exporter's tables (created by its DDL).
Staging views and feature tables are compared as whole tables; queries with the same parameters.
A file using a parameter this test has no value for fails here: add the value to ``_params``.

One deliberate change to the exporter's DDL here: its ``otel_metrics_sum`` (and exponential
histogram) store ``TimeUnix`` as ``DateTime`` (whole seconds), so counter points lose their
sub-second part; this test stores them as ``DateTime64(9)`` like the exporter's gauge and
histogram tables, to compare the SQL itself row for row. test_clickhouse_diagnose.py runs on the
exporter's DDL as it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from infersight.analysis import _sql, connect
from infersight.analysis._telemetry import Telemetry
from infersight.collectors.clickhouse import ClickHouse, export_to_clickhouse, exporter_statements

from tests.analysis._clickhouse import SAMPLE_RUNS, assert_same, db_name, run_id

LAYERS = ("staging", "features", "detectors")
SQL_FILES = [name for layer in LAYERS for name in _sql.names(layer)]
#: runs the per-file comparison reads: between them caches, pools, jobs, GC, loop blocks,
#: downstream calls, GPU samples and an incident-free run
SQL_RUNS = [p for p in SAMPLE_RUNS if p.parent.name == "runs" and p.name in
            ("cache_stampede", "event_loop_block", "gpu_contention", "pool_exhaustion", "slow_downstream", "clean")]
_CREATED = re.compile(r"CREATE\s+OR\s+REPLACE\s+TEMP(?:ORARY)?\s+(?:TABLE|VIEW)\s+(\w+)", re.I)


def _params(tel: Telemetry, duck: Telemetry) -> dict[str, Any]:
    r = tel.range_params
    ids = [str(t) for t in _sql.query(duck.con, "SELECT trace_id FROM f_requests ORDER BY start_ns LIMIT 40")["trace_id"]]
    return {**r, "step_ns": 5 * 10**9, "q": 0.99, "metric": None, "trace_id": ids[0] if ids else None,
            "limit": 1000, "min_ms": 0.0, "lo_ns": r["since_ns"], "hi_ns": r["until_ns"],
            "base_lo_ns": r["since_ns"], "base_hi_ns": (r["since_ns"] + r["until_ns"]) // 2, "min_wait_ms": 1.0,
            "idx": list(range(0, 200, 3)), "trace_ids": ids[:10], "selection": ids[:20], "baseline": ids[20:]}


def _results(tel: Telemetry, params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    tel.build_features()
    for name in sorted(SQL_FILES, key=lambda n: not _CREATED.search(_sql.load(n))):  # tables first
        text = _sql.load(name)
        m = _CREATED.search(text)
        try:
            if m:
                if name.startswith("features/"):
                    _sql.execute(tel.con, name, **params)
                out[name] = _sql.query(tel.con, f"SELECT * FROM {m.group(1)}")
            else:
                out[name] = _sql.run(tel.con, name, **params)
        except Exception as exc:  # recorded, reported by the test of that file
            out[name] = pd.DataFrame({"__error__": [f"{type(exc).__name__}: {str(exc)[:2000]}"]})
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]]:
    root = tmp_path_factory.mktemp("chdb")
    out = {}
    for run in SQL_RUNS:
        url = f"chdb:{root}?database={db_name(run)}"
        with ClickHouse(url) as ch0:
            for stmt in exporter_statements(ch0.database):
                ch0.command(re.sub(r"TimeUnix(\s+)DateTime CODEC", r"TimeUnix\1DateTime64(9) CODEC", stmt))
        export_to_clickhouse(str(run), url)
        with connect(str(run)) as duck:
            duck.build_features()
            with connect(url) as ch:
                params = _params(ch, duck)
                assert params["since_ns"] == duck.range_params["since_ns"]
                ch_res = _results(ch, params)
            duck_res = _results(duck, params)
        out[run_id(run)] = (duck_res, ch_res)
    return out


def test_every_sql_file_is_covered() -> None:
    on_disk = sorted(f"{p.parent.name}/{p.stem}" for layer in LAYERS
                     for p in (Path(__file__).resolve().parents[2] / "analysis" / "sql" / layer).glob("*.sql"))
    assert on_disk == sorted(SQL_FILES) and len(SQL_FILES) > 30


@pytest.mark.parametrize("name", SQL_FILES)
def test_sql_file_same_rows_on_clickhouse(results: dict[str, Any], name: str) -> None:
    compared = 0
    for run, (duck, ch) in results.items():
        d, c = duck[name], ch[name]
        assert "__error__" not in d.columns, f"{run}: DuckDB failed: {d['__error__'][0]}"
        assert "__error__" not in c.columns, f"{run}: ClickHouse failed: {c['__error__'][0]}"
        assert_same(d, c, f"{name} on {run}")
        compared += len(d)
    if name in ("features/f_requests", "staging/stg_spans", "features/requests_for_detectors"):
        assert compared > 1000  # the comparison saw real data, not empty tables
