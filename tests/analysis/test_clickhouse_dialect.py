"""DuckDB constructs whose ClickHouse rendering differs in meaning, each run on both engines on
the same small table: the rows must match. (The sample runs in test_clickhouse_sql.py do not
hold every edge: a map value that is '' rather than missing, a correlated count over no rows.)"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from infersight.analysis._clickhouse import ClickHouseEngine
from infersight.analysis._engine import DuckDBEngine
from infersight.analysis._errors import SourceError

from tests.analysis._clickhouse import assert_same

# one table, created in both engines with the exporter's kinds of columns
ROWS = [(1, {"a": "1", "e": ""}, ["gc.pause", "x"], [{"d": "2.5"}, {}], 10),
        (2, {"a": "x"}, [], [], 20),
        (3, {}, ["gc.pause"], [{"d": "1"}], 10)]

CASES = {
    "missing key is NULL, '' is ''": "SELECT i, attrs['e'] IS NULL AS miss, coalesce(attrs['e'], '?') AS e FROM t",
    "TRY_CAST to NULL": "SELECT i, TRY_CAST(attrs['a'] AS DOUBLE) AS a FROM t",
    "integer division": "SELECT i, (g * 7) // 3 AS q FROM t",
    "parallel unnest": "SELECT i, unnest(names) AS n, unnest(ev) AS e FROM t",
    "lambda over zipped lists": """SELECT i, CASE WHEN len(names) > 0 THEN list_sum(list_transform(
        list_filter(list_zip(names, ev), lambda e: e[1] = 'gc.pause'),
        lambda e: coalesce(TRY_CAST(e[2]['d'] AS DOUBLE), 0.0))) END AS gc FROM t""",
    "ordered list": "SELECT g, list(i ORDER BY i) AS ids FROM t GROUP BY g",
    "quantile and median": "SELECT quantile_cont(i, 0.9) AS p90, median(i) AS p50 FROM t",
    "correlated count over no rows is 0": "SELECT i, (SELECT count(*) FROM t u WHERE u.g = t.i) AS n FROM t",
    "semi join": "SELECT a.i FROM t a SEMI JOIN (SELECT 10 AS g) b ON a.g = b.g",
    "lag is NULL first": "SELECT i, i - lag(i) OVER (ORDER BY i) AS d FROM t",
    "predicate is boolean": "SELECT i, g > 10 AS big, CASE WHEN i > 1 THEN g = 10 END AS maybe FROM t",
    "union by name": "SELECT i, g FROM t UNION ALL BY NAME SELECT g + 1 AS g, i FROM t",
    "order by alias over column": "SELECT coalesce(TRY_CAST(attrs['a'] AS INTEGER), -1) AS i FROM t ORDER BY i",
    "bound list and NULL": "SELECT i FROM t WHERE i IN (SELECT unnest($ids)) AND ($r IS NULL OR g = $r)",
}
PARAMS = {"ids": [1, 3], "r": None}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    duck = DuckDBEngine(duckdb.connect())
    duck.raw.execute("CREATE TABLE t (i BIGINT, attrs MAP(VARCHAR, VARCHAR), names VARCHAR[], "
                     "ev MAP(VARCHAR, VARCHAR)[], g BIGINT)")
    duck.raw.execute("""INSERT INTO t VALUES
        (1, MAP {'a': '1', 'e': ''}, ['gc.pause', 'x'], [MAP {'d': '2.5'}, MAP {}], 10),
        (2, MAP {'a': 'x'}, [], [], 20),
        (3, MAP {}, ['gc.pause'], [MAP {'d': '1'}], 10)""")  # = ROWS
    root: Path = tmp_path_factory.mktemp("chdb_dialect")
    ch = ClickHouseEngine(f"chdb:{root}?database=dialect")
    ch.ch.command("CREATE TABLE t (i Int64, attrs Map(LowCardinality(String), String), "
                  "names Array(LowCardinality(String)), ev Array(Map(LowCardinality(String), String)), "
                  "g Int64) ENGINE = MergeTree ORDER BY i")
    import pyarrow as pa

    ch.ch.insert_arrow("t", pa.table({
        "i": [r[0] for r in ROWS], "attrs": pa.array([list(r[1].items()) for r in ROWS], pa.map_(pa.string(), pa.string())),
        "names": [r[2] for r in ROWS],
        "ev": pa.array([[list(m.items()) for m in r[3]] for r in ROWS], pa.list_(pa.map_(pa.string(), pa.string()))),
        "g": [r[4] for r in ROWS]}))
    yield duck, ch
    ch.close()
    duck.close()


@pytest.mark.parametrize("case", list(CASES))
def test_same_rows(engines, case: str) -> None:  # type: ignore[no-untyped-def]
    duck, ch = engines
    sql = CASES[case]
    params = {k: v for k, v in PARAMS.items() if f"${k}" in sql}
    assert_same(duck.df(sql, params), ch.df(sql, params), case)


def test_one_chdb_folder_per_process(engines, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # chDB runs one embedded server per process: a second folder is refused in one line
    with pytest.raises(SourceError, match="cannot open chdb"):
        ClickHouseEngine(f"chdb:{tmp_path / 'other'}")
