-- requests_for_detectors: the numeric columns of f_requests the detectors hold in memory
-- (trace ids stay in DuckDB; exemplars are looked up by idx).
-- Inputs: f_requests. Output grain: one row per request, in idx (start) order.
SELECT rowid AS idx, route, start_ns, end_ns, duration_ms, is_error, gc_pause_ms, loop_blocked_ms
FROM f_requests
ORDER BY rowid;
