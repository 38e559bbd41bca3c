"""Retention by age and by size, run on the writer thread between ingest groups."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from infersight.collectors._retention import Retention, used_bytes
from infersight.collectors._schema import ensure_schema
from infersight.collectors._traces import convert_traces
from infersight.collectors._writer import Writer

from benchmarks.ingest.payload import make_request
from infersight._units import parse_duration

NOW_S = 1_764_000_000.0
DAY_NS = 86_400 * 10**9


@pytest.fixture
def writer(tmp_path: Path):  # type: ignore[no-untyped-def]
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    ensure_schema(con)
    w = Writer(con)
    w.start()
    yield w
    w.stop()
    con.close()


def _load(w: Writer, days_ago: float, n: int, seed: int) -> None:
    start = int((NOW_S * 1e9) - days_ago * DAY_NS)
    w.submit(convert_traces(make_request(n, seed=seed, start_ns=start - seed * 10**9)).tables).result()


def _count(w: Writer) -> int:
    return int(w.call(lambda con: con.execute("SELECT count(*) FROM otel_traces").fetchone()[0]).result())


def test_age_retention_deletes_only_old_rows(writer: Writer, tmp_path: Path) -> None:
    _load(writer, 10, 300, 1)
    _load(writer, 8, 300, 2)
    _load(writer, 1, 200, 3)
    ret = Retention(writer, str(tmp_path / "r.duckdb"), retention_s=parse_duration("7d"), max_size=None,
                    clock=lambda: NOW_S)
    assert ret.run_once() == 600
    assert _count(writer) == 200
    assert ret.run_once() == 0


def _bulk_old_rows(w: Writer, days: int, rows: int) -> None:
    """Many rows in time order (several DuckDB row groups), spread over ``days`` before NOW."""
    start = int(NOW_S * 1e9) - days * DAY_NS
    step = days * DAY_NS // rows

    def load(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("""INSERT INTO otel_traces ("Timestamp", "TraceId", "SpanId", "SpanName", "ServiceName", "Duration")
                       SELECT make_timestamp_ns(? + i * ?), md5(i::VARCHAR), left(md5((i + 1)::VARCHAR), 16),
                              'op', 'svc', i % 1000000 FROM range(?) t(i)""", [start, step, rows])
        con.execute("CHECKPOINT")
    w.call(load).result()


def test_size_retention_drops_oldest_first(writer: Writer, tmp_path: Path) -> None:
    _bulk_old_rows(writer, 12, 1_000_000)
    path = str(tmp_path / "r.duckdb")
    before = writer.call(lambda con: used_bytes(con, path)).result()
    limit = before // 2
    ret = Retention(writer, path, retention_s=None, max_size=limit, clock=lambda: NOW_S)
    assert ret.run_once() > 0
    assert writer.call(lambda con: used_bytes(con, path)).result() <= limit
    oldest_left = writer.call(lambda con: con.execute(
        "SELECT min(epoch_ns(\"Timestamp\")) FROM otel_traces").fetchone()[0]).result()
    assert oldest_left > int(NOW_S * 1e9) - 12 * DAY_NS + DAY_NS  # the oldest days went first
    assert _count(writer) > 100_000  # the newest data stays


def test_size_retention_keeps_the_last_hour(writer: Writer, tmp_path: Path) -> None:
    for i in range(3):
        _load(writer, 3 - i, 500, 10 + i)
    _load(writer, 0, 300, 20)  # the last hour (starts 20 s before NOW)
    path = str(tmp_path / "r.duckdb")
    ret = Retention(writer, path, retention_s=None, max_size=1, clock=lambda: NOW_S + 60)  # unreachable limit
    ret.run_once()
    assert _count(writer) == 300
