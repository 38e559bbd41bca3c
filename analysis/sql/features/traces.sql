-- traces: one row per request trace in the window (its entry request), slowest first.
-- Inputs: f_requests, stg_spans; params $min_ms (DOUBLE), $limit.
-- Output grain: one row per trace.
WITH r AS (
    SELECT trace_id, min(start_ns) AS start_ns, max(end_ns) AS end_ns, arg_min(route, start_ns) AS route,
           arg_min(service, start_ns) AS service, max(latency_ms) AS duration_ms, bool_or(is_error) AS is_error
    FROM f_requests WHERE in_window GROUP BY trace_id
)
SELECT r.*, (SELECT count(*) FROM stg_spans s WHERE s.trace_id = r.trace_id) AS span_count
FROM r
WHERE r.duration_ms >= $min_ms
ORDER BY r.duration_ms DESC
LIMIT $limit;
