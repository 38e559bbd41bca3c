-- Purpose: connection-pool wait in a window (pool.acquire spans of traced_pool_acquire).
-- Inputs: $service, $start, $end.  Grain: one row.
SELECT count(*) AS acquisitions,
       avg(TRY_CAST("SpanAttributes"['db.client.connection.wait_time'] AS DOUBLE)) AS mean_s,
       quantile_cont(TRY_CAST("SpanAttributes"['db.client.connection.wait_time'] AS DOUBLE), 0.9) AS p90_s,
       count(*) FILTER (WHERE "StatusCode" = 'Error') AS timeouts
FROM otel_traces
WHERE "ServiceName" = $service AND "SpanName" = 'pool.acquire'
  AND "Timestamp" >= $start AND "Timestamp" < $end;
