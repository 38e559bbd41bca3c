-- Purpose: hit/miss counts of one traced cache in a window (cache.lookup spans).
-- Inputs: $service, $cache, $start, $end.  Grain: one row.
SELECT count(*) AS lookups,
       count(*) FILTER (WHERE "SpanAttributes"['cache.hit'] = 'false') AS misses
FROM otel_traces
WHERE "ServiceName" = $service AND "SpanName" = 'cache.lookup ' || $cache
  AND "Timestamp" >= $start AND "Timestamp" < $end;
