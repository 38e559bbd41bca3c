-- stg_spans: typed, renamed view over otel_traces (collectors/schema.sql, ClickHouse-exporter names).
-- Inputs: otel_traces. Output grain: one row per span.
-- tkey is a 64-bit hash of the trace id: joins between feature tables use it (integer joins
-- are much cheaper than 32-character string joins; a collision needs ~4e9 traces to be likely).
-- Times are integer nanoseconds since the Unix epoch (start_ns/end_ns); kind is lower-case
-- ('server', 'client', 'internal', ...) whatever spelling the writer used ('Server', 'SPAN_KIND_SERVER').
CREATE OR REPLACE TEMP VIEW stg_spans AS
SELECT
    "TraceId"                                                   AS trace_id,
    hash("TraceId")                                             AS tkey,
    "SpanId"                                                    AS span_id,
    NULLIF("ParentSpanId", '')                                  AS parent_span_id,
    "SpanName"                                                  AS name,
    lower(replace(coalesce("SpanKind", ''), 'SPAN_KIND_', ''))  AS kind,
    "ServiceName"                                               AS service,
    epoch_ns("Timestamp")                                       AS start_ns,
    epoch_ns("Timestamp") + CAST("Duration" AS BIGINT)          AS end_ns,
    CAST("Duration" AS DOUBLE) / 1e6                            AS duration_ms,
    "StatusCode"                                                AS status_code,
    "SpanAttributes"                                            AS attrs,
    "ResourceAttributes"                                        AS resource,
    "Events.Timestamp"                                          AS event_ts,
    "Events.Name"                                               AS event_names,
    "Events.Attributes"                                         AS event_attrs
FROM otel_traces;
