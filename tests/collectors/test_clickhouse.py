"""The OTel Collector ClickHouse exporter's tables, created from its DDL text (collectors/
clickhouse_exporter_ddl.sql) by the real ClickHouse engine (chDB), filled the way the exporter
fills them (one INSERT naming its columns, Nested fields as parallel arrays) and read by the
analysis. The HTTP path (clickhouse-connect) has no server here: only what can be checked
without one is (URL parsing, a refused connection reported in one line)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from infersight.analysis import connect
from infersight.analysis._errors import SchemaError, SourceError
from infersight.collectors._errors import StorageError
from infersight.collectors.clickhouse import (
    EXPORTER_TABLES,
    ClickHouse,
    create_exporter_tables,
    exporter_columns,
    exporter_ddl,
    exporter_statements,
    parse_url,
)

T0 = "2026-12-01 10:00:00"
# columns in the exporter's INSERT order (traces_insert.sql); one request with a GC-pause event
# and a call to a downstream peer, ids as the exporter writes them (lowercase hex)
_INSERT = """INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName,
  SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration,
  StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`, `Events.Attributes`,
  `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`) VALUES
 (toDateTime64('{t0}.000000000', 9, 'UTC'), '{tid}', '{root}', '', '', 'POST /v1/predict', 'Server', 'model',
  map('service.name', 'model', 'service.instance.id', 'i-1'), 'scope', '1', map('http.route', '/v1/predict',
  'http.response.status_code', '200'), 250000000, 'Unset', '',
  [toDateTime64('{t0}.100000000', 9, 'UTC')], ['gc.pause'], [map('duration_ms', '40.5', 'generation', '2')], [], [], [], []),
 (toDateTime64('{t0}.050000000', 9, 'UTC'), '{tid}', '{child}', '{root}', '', 'GET', 'Client', 'model',
  map('service.name', 'model'), 'scope', '1', map('peer.service', 'features-db'), 120000000, 'Unset', '',
  [], [], [], [], [], [], [])"""


@pytest.fixture
def chdb_url(tmp_path: Path) -> str:
    return f"chdb:{tmp_path / 'ch'}?database=otel"


def test_ddl_text_is_the_exporters_tables() -> None:
    text = exporter_ddl()
    assert "exporter/clickhouseexporter/internal" in text  # cites its source
    stmts = exporter_statements("otel")
    assert len(stmts) == len(EXPORTER_TABLES) + 2  # + the trace-id lookup table and its view
    traces = next(s for s in stmts if "otel.`otel_traces` (" in s.replace("`otel`", "otel.") or "`otel`.otel_traces (" in s)
    for needed in ("SpanAttributes     Map(LowCardinality(String), String)", "Events Nested (",
                   "Links Nested (", "PARTITION BY toDate(Timestamp)", "ENGINE = MergeTree()"):
        assert needed in traces
    assert all("__" not in s.replace("__otel", "") for s in stmts)  # every template field filled
    ttl = exporter_statements("otel", ttl_days=7)
    assert "TTL toDateTime(Timestamp) + toIntervalDay(7)" in next(s for s in ttl if "otel_traces (" in s)
    with pytest.raises(StorageError):
        exporter_statements("otel; DROP TABLE x")


def test_exporter_created_table_is_readable(chdb_url: str) -> None:
    with ClickHouse(chdb_url) as ch:
        create_exporter_tables(ch, ttl_days=30)
        assert set(EXPORTER_TABLES) | {"otel_traces_trace_id_ts"} <= ch.tables()
        assert ch.columns("otel_traces")["Events.Attributes"] == "Array(Map(LowCardinality(String), String))"
        ch.command(_INSERT.format(t0=T0, tid="5b8aa5a2d2c872e8321cf37308d69df2", root="051581bf3cb55c13",
                                  child="5fb397be34d26b51"))
        # the exporter's materialized view filled its trace-id lookup table
        assert ch.rows("SELECT count() FROM otel_traces_trace_id_ts") == [(1,)]
    with connect(chdb_url) as tel:
        spans = tel.spans()
        assert sorted(spans["kind"]) == ["client", "server"]
        root = spans[spans["kind"] == "server"].iloc[0]
        assert root["duration_ms"] == 250.0 and root["attrs"]["http.route"] == "/v1/predict"
        assert list(root["event_names"]) == ["gc.pause"]
        assert root["parent_span_id"] is None  # '' as the exporter writes a root's parent id
        tel.build_features()
        req = tel.query("features/requests_for_detectors")
        assert len(req) == 1 and req["gc_pause_ms"][0] == 40.5 and req["route"][0] == "/v1/predict"
        calls = tel.query("features/trace_spans", trace_ids=["5b8aa5a2d2c872e8321cf37308d69df2"])
        assert len(calls) == 2


def test_missing_tables_read_as_empty(chdb_url: str) -> None:
    with ClickHouse(chdb_url) as ch:  # a traces-only deployment: only otel_traces exists
        ch.command(next(s for s in exporter_statements(ch.database) if "otel_traces (" in s))
        ch.command(_INSERT.format(t0=T0, tid="5b8aa5a2d2c872e8321cf37308d69df3", root="051581bf3cb55c14",
                                  child="5fb397be34d26b52"))
    with connect(chdb_url) as tel:
        assert tel.metrics().empty and len(tel.spans()) == 2


def test_foreign_database_is_refused(chdb_url: str) -> None:
    with ClickHouse(chdb_url) as ch:
        ch.command("CREATE TABLE something (a Int32) ENGINE = Memory")
    with pytest.raises(SchemaError, match="no otel_traces"):
        connect(chdb_url)


def test_urls() -> None:
    t = parse_url("clickhouse://reader:s%40cret@ch.internal:8123/otel")
    assert (t.kind, t.host, t.port, t.user, t.password, t.database) == ("http", "ch.internal", 8123, "reader", "s@cret", "otel")
    assert parse_url("clickhouses://ch.internal/otel").port == 8443
    assert parse_url("chdb:/var/lib/ch?database=otel").path == "/var/lib/ch"
    for bad in ("clickhouse:///otel", "chdb:", "clickhouse://h/x;drop"):
        with pytest.raises(StorageError):
            parse_url(bad)


def test_http_unreachable_is_one_line() -> None:
    # a port nobody listens on: the real client, a real refused connection
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match=r"cannot reach ClickHouse at http://default@127\.0\.0\.1"):
        connect(f"clickhouse://127.0.0.1:{port}/otel")


def test_duckdb_schema_has_the_exporters_columns() -> None:
    """docs/schema.md: every column of collectors/schema.sql is the exporter's column of that name."""
    import duckdb
    from infersight.collectors._schema import schema_sql

    con = duckdb.connect()
    con.execute(schema_sql())
    for table in EXPORTER_TABLES:
        duck = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()}
        with_nested = set()
        nested = None
        for line in exporter_columns(table).splitlines():
            s = line.strip().rstrip(",")
            if s.endswith("Nested ("):
                nested = s.split()[0]
            elif s == ")":
                nested = None
            elif s:
                with_nested.add(f"{nested}.{s.split()[0]}" if nested else s.split()[0])
        assert duck == with_nested, table
