"""schema.sql: tables and column names of the ClickHouse exporter, versioning, migrations, attrs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from infersight.collectors import SCHEMA_VERSION, TABLES, SchemaVersionError, StorageError, _schema
from infersight.collectors._attrs import any_to_str, fmt_double
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

# Columns the analysis engineer's SQL relies on (DESIGN.md data contract).
CONTRACT = {
    "otel_traces": {"Timestamp": "TIMESTAMP_NS", "TraceId": "VARCHAR", "SpanId": "VARCHAR",
                    "ParentSpanId": "VARCHAR", "SpanName": "VARCHAR", "SpanKind": "VARCHAR",
                    "ServiceName": "VARCHAR", "ResourceAttributes": "MAP(VARCHAR, VARCHAR)",
                    "SpanAttributes": "MAP(VARCHAR, VARCHAR)", "Duration": "UBIGINT", "StatusCode": "VARCHAR",
                    "Events.Timestamp": "TIMESTAMP_NS[]", "Events.Name": "VARCHAR[]",
                    "Events.Attributes": "MAP(VARCHAR, VARCHAR)[]"},
    "otel_metrics_gauge": {"MetricName": "VARCHAR", "Attributes": "MAP(VARCHAR, VARCHAR)",
                           "TimeUnix": "TIMESTAMP_NS", "Value": "DOUBLE"},
    "otel_metrics_histogram": {"Count": "UBIGINT", "Sum": "DOUBLE", "BucketCounts": "UBIGINT[]",
                               "ExplicitBounds": "DOUBLE[]"},
    "otel_logs": {"Timestamp": "TIMESTAMP_NS", "Body": "VARCHAR", "EventName": "VARCHAR"},
}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}


def test_fresh_schema_has_the_contract() -> None:
    con = duckdb.connect()
    assert _schema.ensure_schema(con) == SCHEMA_VERSION
    assert set(TABLES) <= {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for table, cols in CONTRACT.items():
        have = _columns(con, table)
        for name, typ in cols.items():
            assert have.get(name) == typ, (table, name, have.get(name))
    assert _schema.ensure_schema(con) == SCHEMA_VERSION  # idempotent
    assert con.execute("SELECT count(*) FROM infersight_schema").fetchone() == (1,)


def test_migration_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "m.duckdb")
    con = duckdb.connect(db)
    _schema.ensure_schema(con)
    # pretend a version 2 exists: its migration adds a promoted column
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(_schema, "migrations", lambda: {
        SCHEMA_VERSION + 1: 'ALTER TABLE otel_traces ADD COLUMN "HttpRoute" VARCHAR;'})
    assert _schema.ensure_schema(con, path=db) == SCHEMA_VERSION + 1
    assert "HttpRoute" in _columns(con, "otel_traces")


def test_missing_migration_is_an_error_and_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    _schema.ensure_schema(con)
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(_schema, "migrations", lambda: {SCHEMA_VERSION + 1: "ALTER TABLE nope ADD COLUMN x INT;"})
    with pytest.raises(StorageError):
        _schema.ensure_schema(con)
    assert _schema.current_version(con) == SCHEMA_VERSION


def test_newer_version_refused() -> None:
    con = duckdb.connect()
    _schema.ensure_schema(con)
    con.execute("INSERT INTO infersight_schema (version) VALUES (?)", [SCHEMA_VERSION + 5])
    with pytest.raises(SchemaVersionError):
        _schema.ensure_schema(con)


def test_shipped_migrations_are_well_named() -> None:
    for version in _schema.migrations():
        assert 1 < version <= SCHEMA_VERSION


@pytest.mark.parametrize("value,expected", [
    (AnyValue(string_value="x"), "x"), (AnyValue(bool_value=True), "true"), (AnyValue(bool_value=False), "false"),
    (AnyValue(int_value=-5), "-5"), (AnyValue(double_value=2.0), "2"), (AnyValue(double_value=0.25), "0.25"),
    (AnyValue(bytes_value=b"\x00\x01"), "AAE="), (AnyValue(), ""),
])
def test_attribute_stringification(value: AnyValue, expected: str) -> None:
    assert any_to_str(value) == expected


def test_nested_values_are_json() -> None:
    v = AnyValue()
    kv = v.kvlist_value.values.add(key="a")
    kv.value.array_value.values.add(int_value=1)
    kv.value.array_value.values.add(bool_value=True)
    assert any_to_str(v) == '{"a":[1,true]}'


@pytest.mark.parametrize("x,s", [(1e-05, "0.00001"), (1.5e22, "15000000000000000000000"), (float("inf"), "+Inf"),
                                 (float("nan"), "NaN"), (-3.0, "-3"), (0.1, "0.1")])
def test_doubles_like_go(x: float, s: str) -> None:
    assert fmt_double(x) == s
