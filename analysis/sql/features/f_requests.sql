-- f_requests: entry requests in the window: SERVER spans not called from inside another traced
-- request (their parent is not a CLIENT span that itself has a parent; a load generator's root
-- CLIENT span still counts as outside).
-- Inputs: stg_spans; params $since_ns, $until_ns (BIGINT), $route (VARCHAR or NULL = all routes).
-- Output grain: one row per request; its rowid (0..n-1) is the request's
-- idx in the detectors' arrays. gc_pause_ms/loop_blocked_ms: time the request overlapped
-- GC pauses / event-loop blocks, from the infersight attributes or, when absent, from span events.
CREATE OR REPLACE TEMP TABLE f_requests AS
WITH callers AS (
    SELECT span_id FROM stg_spans
    WHERE kind = 'client' AND parent_span_id IS NOT NULL
      AND start_ns >= $since_ns - 600000000000 AND start_ns < $until_ns
)
SELECT
    s.trace_id,
    s.tkey,
    s.span_id,
    s.service,
    coalesce(s.resource['service.instance.id'], s.service)          AS instance,
    s.start_ns,
    s.end_ns,
    s.duration_ms,
    coalesce(s.attrs['http.route'], s.name)                          AS route,
    TRY_CAST(s.attrs['http.response.status_code'] AS INTEGER)       AS http_status,
    (s.status_code = 'Error'
        OR coalesce(TRY_CAST(s.attrs['http.response.status_code'] AS INTEGER), 0) >= 500) AS is_error,
    coalesce(
        TRY_CAST(s.attrs['infersight.gc.pause_ms'] AS DOUBLE),
        CASE WHEN len(s.event_names) > 0 THEN list_sum(list_transform(
            list_filter(list_zip(s.event_names, s.event_attrs), lambda e: e[1] = 'gc.pause'),
            lambda e: coalesce(TRY_CAST(e[2]['duration_ms'] AS DOUBLE),
                               TRY_CAST(e[2]['infersight.gc.pause_ms'] AS DOUBLE), 0.0))) END,
        0.0)                                                          AS gc_pause_ms,
    coalesce(
        TRY_CAST(s.attrs['infersight.event_loop.blocked_ms'] AS DOUBLE),
        CASE WHEN len(s.event_names) > 0 THEN list_sum(list_transform(
            list_filter(list_zip(s.event_names, s.event_attrs), lambda e: e[1] = 'event_loop.blocked'),
            lambda e: coalesce(TRY_CAST(e[2]['lag_ms'] AS DOUBLE), TRY_CAST(e[2]['duration_ms'] AS DOUBLE),
                               0.0))) END,
        0.0)                                                          AS loop_blocked_ms
FROM stg_spans s
LEFT JOIN callers c ON c.span_id = s.parent_span_id
WHERE s.kind = 'server' AND s.start_ns >= $since_ns AND s.start_ns < $until_ns
  AND ($route IS NULL OR coalesce(s.attrs['http.route'], s.name) = $route)
  AND c.span_id IS NULL;
