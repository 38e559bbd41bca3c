-- Purpose: server-side latency of the demo's chat route in a time window (from SERVER spans).
-- Inputs: $service, $start, $end (TIMESTAMP_NS, UTC).  Grain: one row.
SELECT count(*) AS n,
       quantile_cont("Duration" / 1e9, 0.5) AS p50_s,
       quantile_cont("Duration" / 1e9, 0.99) AS p99_s,
       max("Duration" / 1e9) AS max_s
FROM otel_traces
WHERE "ServiceName" = $service AND "SpanKind" = 'Server' AND "SpanName" = 'POST /v1/chat/completions'
  AND "Timestamp" >= $start AND "Timestamp" < $end;
