-- f_runtime_events: GC pauses and event-loop blocks of each service, de-duplicated (the same pause
-- is recorded as a span event on every request it overlapped, long GC pauses also as root
-- 'gc.pause' spans, and every loop block above the threshold as an 'event_loop.blocked' span with
-- its exact interval, the job running and the blocking stack).
-- Inputs: stg_spans (events, gc.pause and event_loop.blocked spans); params $since_ns, $until_ns.
-- Output grain: one row per (service, kind, start) runtime event: kind 'gc' | 'loop', start_ns,
-- end_ns, duration_ms, generation (GC only), stack and job (loop blocks, when known).
CREATE OR REPLACE TEMP TABLE f_runtime_events AS
WITH ev AS (
    SELECT
        service,
        unnest(event_ts)    AS ts,
        unnest(event_names) AS ev_name,
        unnest(event_attrs) AS ev_attrs
    FROM stg_spans
    WHERE len(event_names) > 0
      AND end_ns >= $since_ns AND start_ns < $until_ns
), typed AS (
    SELECT
        service,
        CASE WHEN ev_name = 'gc.pause' THEN 'gc' ELSE 'loop' END       AS kind,
        epoch_ns(ts)                                                   AS start_ns,
        coalesce(TRY_CAST(ev_attrs['duration_ms'] AS DOUBLE), TRY_CAST(ev_attrs['lag_ms'] AS DOUBLE),
                 TRY_CAST(ev_attrs['infersight.gc.pause_ms'] AS DOUBLE), 0.0) AS duration_ms,
        TRY_CAST(coalesce(ev_attrs['cpython.gc.generation'], ev_attrs['generation']) AS INTEGER) AS generation,
        ev_attrs['stack']                                              AS stack,
        CAST(NULL AS VARCHAR)                                          AS job
    FROM ev
    WHERE ev_name IN ('gc.pause', 'event_loop.blocked')
    UNION ALL
    SELECT service, 'gc', start_ns, coalesce(TRY_CAST(attrs['infersight.gc.pause_ms'] AS DOUBLE), duration_ms),
           TRY_CAST(coalesce(attrs['cpython.gc.generation'], attrs['generation']) AS INTEGER), NULL, NULL
    FROM stg_spans
    WHERE name = 'gc.pause' AND parent_span_id IS NULL
      AND start_ns >= $since_ns AND start_ns < $until_ns
    UNION ALL
    SELECT service, 'loop', start_ns, coalesce(TRY_CAST(attrs['infersight.loop.blocked_ms'] AS DOUBLE), duration_ms),
           NULL, attrs['code.stacktrace'], attrs['infersight.job.name']
    FROM stg_spans
    WHERE name = 'event_loop.blocked'
      AND start_ns >= $since_ns AND start_ns < $until_ns
)
SELECT service, kind, start_ns, max(start_ns + CAST(duration_ms * 1e6 AS BIGINT)) AS end_ns,
       max(duration_ms) AS duration_ms, max(generation) AS generation, max(stack) AS stack, max(job) AS job
FROM typed
GROUP BY service, kind, start_ns;
