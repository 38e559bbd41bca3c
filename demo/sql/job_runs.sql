-- Purpose: runs of one traced job in a window, with rows and duration.
-- Inputs: $service, $job, $start, $end.  Grain: one row.
SELECT count(*) AS runs,
       max(TRY_CAST("SpanAttributes"['infersight.job.rows'] AS BIGINT)) AS max_rows,
       max("Duration" / 1e9) AS max_s
FROM otel_traces
WHERE "ServiceName" = $service AND "SpanName" = $job
  AND "Timestamp" >= $start AND "Timestamp" < $end;
