-- f_requests: entry requests in the analysis range: SERVER spans not called from inside another
-- traced request (their parent is not a CLIENT span that itself has a parent; a load generator's
-- or prober's root CLIENT span still counts as outside, and gives the client-seen latency).
-- Inputs: stg_spans; params $since_ns (start of the analysis range: the window plus the baseline
-- before it), $window_ns (start of the window asked for), $until_ns, $route (VARCHAR or NULL),
-- $warmup_ns (requests this close to the start of a process instance that started with the data
-- are its warm-up).
-- Output grain: one row per request; its rowid (0..n-1) is the request's idx in the detectors'
-- arrays, in start order (ties by span id: the same data numbers its requests the same way on
-- every engine, and ClickHouse numbers a table's rows by its ORDER BY).
-- route: http.route, else the span name; when that is missing or a wildcard ('/*', '{path:path}')
-- as API gateways emit, the request type adds its first downstream operation, so heavy and light
-- requests behind one gateway route do not share a baseline.
-- latency_ms: what the request's client waited: the load generator's / prober's CLIENT span (from
-- the scheduled send time: measured) when the request has one, else the span's duration plus the
-- time it waited before the span started (infersight.loop.queued_ms: measured from a gateway's
-- X-Request-Start, or estimated from a blocked event loop - an upper bound).
-- is_error: the span failed (status Error, HTTP 5xx) or its trace holds an ERROR log record
-- (services that log an exception but answer 200, or set no span status at all).
-- gpu_*: the GPU plane's per-request aggregates (utilisation, other processes' share, throttling,
-- allocation failures, memory) and the device the model served on (NULL without the plane).
-- gc_pause_ms/loop_blocked_ms: time the request overlapped GC pauses / event-loop blocks, from the
-- infersight attributes or, when absent, from span events.
CREATE OR REPLACE TEMP TABLE f_requests AS
WITH callers AS (
    SELECT span_id FROM stg_spans
    WHERE kind = 'client' AND parent_span_id IS NOT NULL
      AND start_ns >= $since_ns - 600000000000 AND start_ns < $until_ns
), loaders AS (
    -- root CLIENT spans of load generators / probers: the request as its client saw it
    SELECT span_id, start_ns, duration_ms FROM stg_spans
    WHERE kind = 'client' AND parent_span_id IS NULL
      AND start_ns >= $since_ns - 600000000000 AND start_ns < $until_ns
), req AS (
    SELECT s.*, coalesce(s.attrs['http.route'], s.name) AS raw_route, l.duration_ms AS client_ms,
           l.start_ns AS client_start_ns
    FROM stg_spans s
    LEFT JOIN callers c ON c.span_id = s.parent_span_id
    LEFT JOIN loaders l ON l.span_id = s.parent_span_id
    WHERE s.kind = 'server' AND s.start_ns >= $since_ns AND s.start_ns < $until_ns
      AND c.span_id IS NULL
), wild AS (
    SELECT tkey, service, span_id FROM req
    WHERE raw_route IS NULL OR raw_route LIKE '%*%' OR raw_route LIKE '%{%:path}%' OR raw_route IN ('', '/')
), first_call AS (
    -- the first outgoing call each wildcard request made, named by its callee's route when traced
    SELECT w.span_id, arg_min(coalesce(sv.attrs['http.route'], sv.name, k.name), k.start_ns) AS op
    FROM wild w
    JOIN stg_spans k ON k.tkey = w.tkey AND k.service = w.service AND k.kind = 'client'
    LEFT JOIN stg_spans sv ON sv.parent_span_id = k.span_id AND sv.kind = 'server'
    GROUP BY w.span_id
), first_seen AS (
    SELECT coalesce(resource['service.instance.id'], service) AS instance, min(start_ns) AS first_ns
    FROM stg_spans WHERE kind = 'server' GROUP BY 1
), data_start AS (
    SELECT min(first_ns) AS t0 FROM first_seen
), log_errors AS (
    -- ERROR-or-worse log records per trace: a failure the spans did not mark (no status set)
    SELECT "TraceId" AS trace_id, count(*) AS n FROM otel_logs
    WHERE "SeverityNumber" >= 17 AND coalesce("TraceId", '') <> ''
      AND epoch_ns("Timestamp") >= $since_ns - 600000000000 AND epoch_ns("Timestamp") < $until_ns + 600000000000
    GROUP BY 1
)
SELECT
    r.trace_id,
    r.tkey,
    r.span_id,
    r.service,
    coalesce(r.resource['service.instance.id'], r.service)          AS instance,
    r.start_ns,
    r.end_ns,
    r.duration_ms,
    greatest(coalesce(TRY_CAST(r.attrs['infersight.loop.queued_ms'] AS DOUBLE), 0.0), 0.0) AS queued_ms,
    coalesce(r.client_ms, r.duration_ms
        + greatest(coalesce(TRY_CAST(r.attrs['infersight.loop.queued_ms'] AS DOUBLE), 0.0), 0.0)) AS latency_ms,
    r.client_ms,
    r.client_start_ns,
    r.attrs['infersight.request.arrival_source']                    AS arrival_source,
    CASE WHEN f.op IS NOT NULL THEN coalesce(r.raw_route, '*') || ' -> ' || f.op
         ELSE r.raw_route END                                       AS route,
    TRY_CAST(r.attrs['http.response.status_code'] AS INTEGER)       AS http_status,
    (r.status_code = 'Error'
        OR coalesce(TRY_CAST(r.attrs['http.response.status_code'] AS INTEGER), 0) >= 500
        OR coalesce(le.n, 0) > 0)                                    AS is_error,
    coalesce(le.n, 0)                                                AS error_logs,
    coalesce(
        TRY_CAST(r.attrs['infersight.gc.pause_ms'] AS DOUBLE),
        CASE WHEN len(r.event_names) > 0 THEN list_sum(list_transform(
            list_filter(list_zip(r.event_names, r.event_attrs), lambda e: e[1] = 'gc.pause'),
            lambda e: coalesce(TRY_CAST(e[2]['duration_ms'] AS DOUBLE),
                               TRY_CAST(e[2]['infersight.gc.pause_ms'] AS DOUBLE), 0.0))) END,
        0.0)                                                          AS gc_pause_ms,
    coalesce(
        TRY_CAST(r.attrs['infersight.event_loop.blocked_ms'] AS DOUBLE),
        CASE WHEN len(r.event_names) > 0 THEN list_sum(list_transform(
            list_filter(list_zip(r.event_names, r.event_attrs), lambda e: e[1] = 'event_loop.blocked'),
            lambda e: coalesce(TRY_CAST(e[2]['lag_ms'] AS DOUBLE), TRY_CAST(e[2]['duration_ms'] AS DOUBLE),
                               0.0))) END,
        0.0)                                                          AS loop_blocked_ms,
    -- what the GPU did while the request ran (infersight's GPU plane writes these on the span)
    TRY_CAST(r.attrs['infersight.gpu.util_mean'] AS DOUBLE)           AS gpu_util,
    TRY_CAST(r.attrs['infersight.gpu.other_util_mean'] AS DOUBLE)     AS gpu_other_util,
    TRY_CAST(r.attrs['infersight.gpu.throttled'] AS BOOLEAN)          AS gpu_throttled,
    r.attrs['infersight.gpu.clock_event_reasons']                     AS gpu_clock_reasons,
    coalesce(TRY_CAST(r.attrs['infersight.gpu.ooms'] AS DOUBLE), 0)
        + coalesce(TRY_CAST(r.attrs['infersight.gpu.alloc_retries'] AS DOUBLE), 0) AS gpu_alloc_failures,
    TRY_CAST(r.attrs['infersight.gpu.memory_used_max_bytes'] AS DOUBLE)
        / nullif(TRY_CAST(r.attrs['infersight.gpu.memory_total_bytes'] AS DOUBLE), 0) AS gpu_memory_share,
    r.attrs['infersight.model.device']                                AS model_device,
    r.start_ns >= $window_ns                                          AS in_window,
    (fs.first_ns < d.t0 + $warmup_ns AND r.start_ns < fs.first_ns + $warmup_ns) AS warmup
FROM req r
LEFT JOIN first_call f ON f.span_id = r.span_id
LEFT JOIN first_seen fs ON fs.instance = coalesce(r.resource['service.instance.id'], r.service)
LEFT JOIN log_errors le ON le.trace_id = r.trace_id
CROSS JOIN data_start d
WHERE ($route IS NULL OR r.raw_route = $route
       OR (CASE WHEN f.op IS NOT NULL THEN coalesce(r.raw_route, '*') || ' -> ' || f.op END) = $route)
ORDER BY r.start_ns, r.span_id;
