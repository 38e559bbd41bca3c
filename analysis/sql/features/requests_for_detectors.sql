-- requests_for_detectors: the columns of f_requests the detectors read into memory.
-- Inputs: f_requests. Output grain: one row per request, oldest first.
SELECT trace_id, span_id, service, instance, route, start_ns, end_ns, duration_ms, is_error,
       gc_pause_ms, loop_blocked_ms
FROM f_requests
ORDER BY start_ns;
