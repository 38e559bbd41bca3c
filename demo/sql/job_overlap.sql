-- Purpose: chat requests that overlapped a run of a job versus those that did not, in a window
-- (a same-window comparison: both groups see the same machine load).
-- Inputs: $service, $job, $start, $end.  Grain: one row.
WITH req AS (
    SELECT "Timestamp" AS s, "Timestamp" + to_microseconds(("Duration" / 1000)::BIGINT) AS e, "Duration" / 1e9 AS d
    FROM otel_traces
    WHERE "ServiceName" = $service AND "SpanKind" = 'Server' AND "SpanName" = 'POST /v1/chat/completions'
      AND "Timestamp" >= $start AND "Timestamp" < $end
), job AS (
    SELECT "Timestamp" AS s, "Timestamp" + to_microseconds(("Duration" / 1000)::BIGINT) AS e
    FROM otel_traces WHERE "ServiceName" = $service AND "SpanName" = $job
), tagged AS (
    SELECT req.d, EXISTS (SELECT 1 FROM job WHERE job.s < req.e AND job.e > req.s) AS hit FROM req
)
SELECT count(*) FILTER (WHERE hit) AS n_overlap,
       median(d) FILTER (WHERE hit) AS p50_overlap_s,
       count(*) FILTER (WHERE NOT hit) AS n_other,
       median(d) FILTER (WHERE NOT hit) AS p50_other_s
FROM tagged;
