-- pool_wait_intervals: when requests were waiting for a pooled connection (waits of 1 ms or more).
-- Inputs: f_pool_waits. Output grain: one row per wait.
SELECT start_ns, end_ns FROM f_pool_waits WHERE wait_ms >= 1.0 ORDER BY start_ns;
