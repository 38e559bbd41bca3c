-- infersight telemetry schema, version 1.
--
-- Mirrors the OpenTelemetry Collector contrib ClickHouse exporter tables
-- (exporter/clickhouseexporter/internal/sqltemplates/*.sql): same table and column names,
-- DuckDB types. Deviations (documented in docs/schema.md):
--   * DateTime64(9)            -> TIMESTAMP_NS (UTC, no time zone)
--   * Map(LowCardinality(String), String) -> MAP(VARCHAR, VARCHAR)
--   * Nested(...) columns are stored the way ClickHouse flattens them: one LIST column per
--     field, named "Events.Timestamp", "Events.Name", ... (quote them in DuckDB SQL).
--   * No CODEC / ENGINE / PARTITION / INDEX / TTL clauses (retention is done by the collector).
--   * UInt8/UInt32/UInt64 -> UTINYINT/UINTEGER/UBIGINT.
--   * otel_traces_trace_id_ts is a VIEW here (a table + materialized view in ClickHouse).
-- This file is the one definition of the newest version (collectors/_schema.py SCHEMA_VERSION);
-- older databases are upgraded by collectors/migrations/NNN_*.sql (NNN = target version).
-- No DDL ever runs on the ingest path: this runs once when the collector opens the file.

CREATE TABLE IF NOT EXISTS infersight_schema (
    version     INTEGER NOT NULL,
    applied_at  TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS otel_traces (
    "Timestamp"            TIMESTAMP_NS NOT NULL,
    "TraceId"              VARCHAR NOT NULL,
    "SpanId"               VARCHAR NOT NULL,
    "ParentSpanId"         VARCHAR,
    "TraceState"           VARCHAR,
    "SpanName"             VARCHAR,
    "SpanKind"             VARCHAR,          -- Server | Client | Internal | Producer | Consumer | Unspecified
    "ServiceName"          VARCHAR,
    "ResourceAttributes"   MAP(VARCHAR, VARCHAR),
    "ScopeName"            VARCHAR,
    "ScopeVersion"         VARCHAR,
    "SpanAttributes"       MAP(VARCHAR, VARCHAR),
    "Duration"             UBIGINT,          -- nanoseconds
    "StatusCode"           VARCHAR,          -- Unset | Ok | Error
    "StatusMessage"        VARCHAR,
    "Events.Timestamp"     TIMESTAMP_NS[],
    "Events.Name"          VARCHAR[],
    "Events.Attributes"    MAP(VARCHAR, VARCHAR)[],
    "Links.TraceId"        VARCHAR[],
    "Links.SpanId"         VARCHAR[],
    "Links.TraceState"     VARCHAR[],
    "Links.Attributes"     MAP(VARCHAR, VARCHAR)[]
);

CREATE TABLE IF NOT EXISTS otel_logs (
    "Timestamp"            TIMESTAMP_NS NOT NULL,
    "TimestampTime"        TIMESTAMP,
    "TraceId"              VARCHAR,
    "SpanId"               VARCHAR,
    "TraceFlags"           UTINYINT,
    "SeverityText"         VARCHAR,
    "SeverityNumber"       UTINYINT,
    "ServiceName"          VARCHAR,
    "Body"                 VARCHAR,
    "ResourceSchemaUrl"    VARCHAR,
    "ResourceAttributes"   MAP(VARCHAR, VARCHAR),
    "ScopeSchemaUrl"       VARCHAR,
    "ScopeName"            VARCHAR,
    "ScopeVersion"         VARCHAR,
    "ScopeAttributes"      MAP(VARCHAR, VARCHAR),
    "LogAttributes"        MAP(VARCHAR, VARCHAR),
    "EventName"            VARCHAR
);

CREATE TABLE IF NOT EXISTS otel_metrics_gauge (
    "ResourceAttributes"    MAP(VARCHAR, VARCHAR),
    "ResourceSchemaUrl"     VARCHAR,
    "ScopeName"             VARCHAR,
    "ScopeVersion"          VARCHAR,
    "ScopeAttributes"       MAP(VARCHAR, VARCHAR),
    "ScopeDroppedAttrCount" UINTEGER,
    "ScopeSchemaUrl"        VARCHAR,
    "ServiceName"           VARCHAR,
    "MetricName"            VARCHAR,
    "MetricDescription"     VARCHAR,
    "MetricUnit"            VARCHAR,
    "Attributes"            MAP(VARCHAR, VARCHAR),
    "StartTimeUnix"         TIMESTAMP_NS,
    "TimeUnix"              TIMESTAMP_NS NOT NULL,
    "Value"                 DOUBLE,
    "Flags"                 UINTEGER,
    "Exemplars.FilteredAttributes" MAP(VARCHAR, VARCHAR)[],
    "Exemplars.TimeUnix"    TIMESTAMP_NS[],
    "Exemplars.Value"       DOUBLE[],
    "Exemplars.SpanId"      VARCHAR[],
    "Exemplars.TraceId"     VARCHAR[]
);

CREATE TABLE IF NOT EXISTS otel_metrics_sum (
    "ResourceAttributes"    MAP(VARCHAR, VARCHAR),
    "ResourceSchemaUrl"     VARCHAR,
    "ScopeName"             VARCHAR,
    "ScopeVersion"          VARCHAR,
    "ScopeAttributes"       MAP(VARCHAR, VARCHAR),
    "ScopeDroppedAttrCount" UINTEGER,
    "ScopeSchemaUrl"        VARCHAR,
    "ServiceName"           VARCHAR,
    "MetricName"            VARCHAR,
    "MetricDescription"     VARCHAR,
    "MetricUnit"            VARCHAR,
    "Attributes"            MAP(VARCHAR, VARCHAR),
    "StartTimeUnix"         TIMESTAMP_NS,
    "TimeUnix"              TIMESTAMP_NS NOT NULL,
    "Value"                 DOUBLE,
    "Flags"                 UINTEGER,
    "Exemplars.FilteredAttributes" MAP(VARCHAR, VARCHAR)[],
    "Exemplars.TimeUnix"    TIMESTAMP_NS[],
    "Exemplars.Value"       DOUBLE[],
    "Exemplars.SpanId"      VARCHAR[],
    "Exemplars.TraceId"     VARCHAR[],
    "AggregationTemporality" INTEGER,        -- 1 delta, 2 cumulative
    "IsMonotonic"           BOOLEAN
);

CREATE TABLE IF NOT EXISTS otel_metrics_histogram (
    "ResourceAttributes"    MAP(VARCHAR, VARCHAR),
    "ResourceSchemaUrl"     VARCHAR,
    "ScopeName"             VARCHAR,
    "ScopeVersion"          VARCHAR,
    "ScopeAttributes"       MAP(VARCHAR, VARCHAR),
    "ScopeDroppedAttrCount" UINTEGER,
    "ScopeSchemaUrl"        VARCHAR,
    "ServiceName"           VARCHAR,
    "MetricName"            VARCHAR,
    "MetricDescription"     VARCHAR,
    "MetricUnit"            VARCHAR,
    "Attributes"            MAP(VARCHAR, VARCHAR),
    "StartTimeUnix"         TIMESTAMP_NS,
    "TimeUnix"              TIMESTAMP_NS NOT NULL,
    "Count"                 UBIGINT,
    "Sum"                   DOUBLE,
    "BucketCounts"          UBIGINT[],
    "ExplicitBounds"        DOUBLE[],
    "Exemplars.FilteredAttributes" MAP(VARCHAR, VARCHAR)[],
    "Exemplars.TimeUnix"    TIMESTAMP_NS[],
    "Exemplars.Value"       DOUBLE[],
    "Exemplars.SpanId"      VARCHAR[],
    "Exemplars.TraceId"     VARCHAR[],
    "Flags"                 UINTEGER,
    "Min"                   DOUBLE,
    "Max"                   DOUBLE,
    "AggregationTemporality" INTEGER
);

CREATE TABLE IF NOT EXISTS otel_metrics_exponential_histogram (
    "ResourceAttributes"    MAP(VARCHAR, VARCHAR),
    "ResourceSchemaUrl"     VARCHAR,
    "ScopeName"             VARCHAR,
    "ScopeVersion"          VARCHAR,
    "ScopeAttributes"       MAP(VARCHAR, VARCHAR),
    "ScopeDroppedAttrCount" UINTEGER,
    "ScopeSchemaUrl"        VARCHAR,
    "ServiceName"           VARCHAR,
    "MetricName"            VARCHAR,
    "MetricDescription"     VARCHAR,
    "MetricUnit"            VARCHAR,
    "Attributes"            MAP(VARCHAR, VARCHAR),
    "StartTimeUnix"         TIMESTAMP_NS,
    "TimeUnix"              TIMESTAMP_NS NOT NULL,
    "Count"                 UBIGINT,
    "Sum"                   DOUBLE,
    "Scale"                 INTEGER,
    "ZeroCount"             UBIGINT,
    "PositiveOffset"        INTEGER,
    "PositiveBucketCounts"  UBIGINT[],
    "NegativeOffset"        INTEGER,
    "NegativeBucketCounts"  UBIGINT[],
    "Exemplars.FilteredAttributes" MAP(VARCHAR, VARCHAR)[],
    "Exemplars.TimeUnix"    TIMESTAMP_NS[],
    "Exemplars.Value"       DOUBLE[],
    "Exemplars.SpanId"      VARCHAR[],
    "Exemplars.TraceId"     VARCHAR[],
    "Flags"                 UINTEGER,
    "Min"                   DOUBLE,
    "Max"                   DOUBLE,
    "AggregationTemporality" INTEGER
);

CREATE TABLE IF NOT EXISTS otel_metrics_summary (
    "ResourceAttributes"    MAP(VARCHAR, VARCHAR),
    "ResourceSchemaUrl"     VARCHAR,
    "ScopeName"             VARCHAR,
    "ScopeVersion"          VARCHAR,
    "ScopeAttributes"       MAP(VARCHAR, VARCHAR),
    "ScopeDroppedAttrCount" UINTEGER,
    "ScopeSchemaUrl"        VARCHAR,
    "ServiceName"           VARCHAR,
    "MetricName"            VARCHAR,
    "MetricDescription"     VARCHAR,
    "MetricUnit"            VARCHAR,
    "Attributes"            MAP(VARCHAR, VARCHAR),
    "StartTimeUnix"         TIMESTAMP_NS,
    "TimeUnix"              TIMESTAMP_NS NOT NULL,
    "Count"                 UBIGINT,
    "Sum"                   DOUBLE,
    "ValueAtQuantiles.Quantile" DOUBLE[],
    "ValueAtQuantiles.Value"    DOUBLE[],
    "Flags"                 UINTEGER
);

-- Trace id -> time range lookup (the exporter's otel_traces_trace_id_ts table + MV, as a view).
CREATE VIEW IF NOT EXISTS otel_traces_trace_id_ts AS
SELECT "TraceId", min("Timestamp") AS "Start", max("Timestamp") AS "End"
FROM otel_traces
GROUP BY "TraceId";
