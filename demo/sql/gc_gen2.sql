-- Purpose: long generation-2 GC pauses in a window (the instrument's gc.pause spans).
-- Inputs: $service, $start, $end.  Grain: one row.
SELECT count(*) AS pauses,
       coalesce(sum(TRY_CAST("SpanAttributes"['infersight.gc.pause_ms'] AS DOUBLE)), 0) / 1e3 AS pause_s
FROM otel_traces
WHERE "ServiceName" = $service AND "SpanName" = 'gc.pause'
  AND "SpanAttributes"['cpython.gc.generation'] = '2'
  AND "Timestamp" >= $start AND "Timestamp" < $end;
