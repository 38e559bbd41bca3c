-- operations: span names (Jaeger "operations") of one service, with their span kind.
-- Inputs: otel_traces. Params: $service (VARCHAR), $kind (VARCHAR: Server | Client | ... or
-- NULL for every kind), $from_ns, $to_ns (BIGINT unix ns; span start in [from, to)).
-- Output grain: one row per (span name, span kind), alphabetical.
SELECT DISTINCT "SpanName" AS name, "SpanKind" AS kind
FROM otel_traces
WHERE "ServiceName" = $service
  AND ($kind IS NULL OR "SpanKind" = $kind)
  AND "Timestamp" >= make_timestamp_ns($from_ns) AND "Timestamp" < make_timestamp_ns($to_ns)
ORDER BY name, kind;
