-- f_jobs: background/scheduled job runs: root spans that are neither SERVER nor CLIENT (a trace
-- started by a scheduler, not by a request; infersight's traced_job always starts a new trace);
-- the instrumentation's own root spans (gc.pause, event_loop.blocked, a model's device change) are
-- not jobs.
-- Inputs: stg_spans; params $since_ns, $until_ns. Output grain: one row per job run.
CREATE OR REPLACE TEMP TABLE f_jobs AS
SELECT
    trace_id,
    tkey,
    span_id,
    service,
    coalesce(attrs['infersight.job.name'], name)                 AS job,
    start_ns,
    end_ns,
    duration_ms,
    TRY_CAST(coalesce(attrs['infersight.job.rows'], attrs['db.response.returned_rows']) AS DOUBLE) AS rows,
    TRY_CAST(attrs['infersight.job.bytes'] AS DOUBLE)            AS bytes
FROM stg_spans
WHERE end_ns >= $since_ns - 600000000000 AND start_ns < $until_ns
  AND parent_span_id IS NULL AND kind IN ('internal', 'consumer', 'producer', 'unspecified', '')
  AND name NOT IN ('gc.pause', 'event_loop.blocked', 'infersight.model.device_change');
