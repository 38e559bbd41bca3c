-- f_jobs: background/scheduled job runs: root spans that are neither SERVER nor CLIENT (a trace
-- started by a scheduler, not by a request; infersight's traced_job always starts a new trace and
-- is the current span while it runs, so the job's own work nests under it). A root span that
-- declares another helper's attributes is that helper's, not a job: a cache lookup (cache.name),
-- a pool wait (db.client.connection.pool.name), a query (db.system.name / db.system) made outside
-- any trace. The instrumentation's own root spans (gc.pause, event_loop.blocked, a model's
-- device change) are not jobs either.
-- rows: the job's own count (infersight.job.rows, db.response.returned_rows on the job span), else
-- the rows its queries returned (db.response.returned_rows summed over the job's trace).
-- Inputs: stg_spans; params $since_ns, $until_ns. Output grain: one row per job run.
CREATE OR REPLACE TEMP TABLE f_jobs AS
WITH roots AS (
    SELECT *
    FROM stg_spans
    WHERE end_ns >= $since_ns - 600000000000 AND start_ns < $until_ns
      AND parent_span_id IS NULL AND kind IN ('internal', 'consumer', 'producer', 'unspecified', '')
      AND name NOT IN ('gc.pause', 'event_loop.blocked', 'infersight.model.device_change')
      AND (attrs['infersight.job.name'] IS NOT NULL
           OR coalesce(attrs['cache.name'], attrs['db.client.connection.pool.name'], attrs['pool.name'],
                       attrs['infersight.pool.name'], attrs['db.system.name'], attrs['db.system']) IS NULL)
), trace_rows AS (
    SELECT c.tkey, sum(TRY_CAST(c.attrs['db.response.returned_rows'] AS DOUBLE)) AS rows
    FROM stg_spans c
    WHERE c.tkey IN (SELECT tkey FROM roots)
      AND c.parent_span_id IS NOT NULL AND c.attrs['db.response.returned_rows'] IS NOT NULL
    GROUP BY c.tkey
)
SELECT
    r.trace_id,
    r.tkey,
    r.span_id,
    r.service,
    coalesce(r.attrs['infersight.job.name'], r.name)              AS job,
    r.start_ns,
    r.end_ns,
    r.duration_ms,
    coalesce(TRY_CAST(coalesce(r.attrs['infersight.job.rows'], r.attrs['db.response.returned_rows']) AS DOUBLE),
             t.rows)                                              AS rows,
    TRY_CAST(r.attrs['infersight.job.bytes'] AS DOUBLE)           AS bytes
FROM roots r
LEFT JOIN trace_rows t ON t.tkey = r.tkey;
