-- Purpose: latency of the demo server's outgoing calls (CLIENT spans) in a window.
-- Inputs: $service, $start, $end.  Grain: one row.
SELECT count(*) AS calls,
       quantile_cont("Duration" / 1e9, 0.5) AS p50_s,
       quantile_cont("Duration" / 1e9, 0.9) AS p90_s
FROM otel_traces
WHERE "ServiceName" = $service AND "SpanKind" = 'Client'
  AND "Timestamp" >= $start AND "Timestamp" < $end;
