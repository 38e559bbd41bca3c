-- requests_for_detectors: the columns of f_requests the detectors hold in memory (trace ids stay
-- in DuckDB; exemplars are looked up by idx). Warm-up requests are kept and flagged: the incident
-- gate leaves them out of its baselines, cold_start looks at new instances' first requests.
-- Inputs: f_requests. Output grain: one row per request, in idx (start time) order.
SELECT rowid AS idx, tkey, route, service, instance, start_ns, end_ns, duration_ms, queued_ms, latency_ms,
       client_ms, client_start_ns, coalesce(is_error, false) AS is_error, gc_pause_ms, loop_blocked_ms, warmup, in_window,
       gpu_util, gpu_other_util, gpu_throttled, gpu_clock_reasons, gpu_alloc_failures, gpu_memory_share, model_device
FROM f_requests
ORDER BY rowid;
