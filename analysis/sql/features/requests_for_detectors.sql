-- requests_for_detectors: the numeric columns of f_requests the detectors hold in memory
-- (trace ids stay in DuckDB; exemplars are looked up by idx). Requests in the first $warmup_ns
-- of an instance whose first request falls inside the window's first $warmup_ns are left out:
-- a process that starts with the window is warming up (cold caches, lazy loading, JIT), a
-- regime of its own that would otherwise pollute every baseline (cold_start looks at
-- instances that start later in the window).
-- Inputs: f_requests; param $warmup_ns. Output grain: one row per request, in idx order.
WITH first_seen AS (
    SELECT instance, min(start_ns) AS first_ns FROM f_requests GROUP BY instance
), window_start AS (
    SELECT min(start_ns) AS t0 FROM f_requests
)
SELECT r.rowid AS idx, r.route, r.start_ns, r.end_ns, r.duration_ms, r.is_error, r.gc_pause_ms, r.loop_blocked_ms
FROM f_requests r JOIN first_seen f USING (instance), window_start w
WHERE NOT (f.first_ns < w.t0 + $warmup_ns AND r.start_ns < f.first_ns + $warmup_ns)
ORDER BY r.rowid;
